"""Python's side of zkha's peer benchmark (``zkha-peer-bench``, run by ``make bench``): the
same workloads with zkha's Python binding or with kazoo, one JSON line of results on stdout.

    peer_driver.py zkha|kazoo lock      CONNECT PATH WARMUP CYCLES
    peer_driver.py zkha|kazoo cycles    CONNECT PATH CYCLES
    peer_driver.py zkha|kazoo contended CONNECT PATH SESSIONS SECONDS
    peer_driver.py zkha|kazoo handover  CONNECT BASE ROUNDS

The orchestrator starts the ensemble, interleaves runs of every implementation and prints the
figures; see docs/bench.md.
"""

from __future__ import annotations

import json
import statistics
import sys
import threading
import time
from collections.abc import Callable
from typing import Any, Protocol


class Backend(Protocol):
    def connect(self, hosts: str) -> Any: ...
    def close(self, client: Any) -> None: ...
    def lock_cycle(self, client: Any, path: str) -> Callable[[], None]: ...
    def handover(self, a: Any, b: Any, latch: str) -> float: ...


class Zkha:
    def __init__(self) -> None:
        import zkha

        self.zkha = zkha

    def connect(self, hosts: str) -> Any:
        return self.zkha.Client(hosts, 10)

    def close(self, client: Any) -> None:
        client.close()

    def lock_cycle(self, client: Any, path: str) -> Callable[[], None]:
        lock = client.lock(path)

        def cycle() -> None:
            with lock:
                pass

        return cycle

    def handover(self, a: Any, b: Any, latch: str) -> float:
        ea = a.election(latch, "a")
        ea.wait(10)
        eb = b.election(latch, "b")
        granted = [0.0]
        done = threading.Event()

        def waiter() -> None:
            eb.wait(30)
            granted[0] = time.perf_counter()
            done.set()

        th = threading.Thread(target=waiter)
        th.start()
        time.sleep(0.05)  # b's node is in place, its watch set
        t0 = time.perf_counter()
        ea.close()
        if not done.wait(30):
            raise RuntimeError(f"b did not lead {latch}")
        th.join()
        eb.close()
        return granted[0] - t0


class Kazoo:
    def __init__(self) -> None:
        from kazoo.client import KazooClient

        self.KazooClient = KazooClient

    def connect(self, hosts: str) -> Any:
        k = self.KazooClient(hosts, timeout=10)
        k.start()
        return k

    def close(self, client: Any) -> None:
        client.stop()
        client.close()

    def lock_cycle(self, client: Any, path: str) -> Callable[[], None]:
        lock = client.Lock(path, "bench")

        def cycle() -> None:
            with lock:
                pass

        return cycle

    def handover(self, a: Any, b: Any, latch: str) -> float:
        ea, eb = a.Election(latch, "a"), b.Election(latch, "b")
        a_leads, a_leave, b_leads = threading.Event(), threading.Event(), threading.Event()
        granted = [0.0]

        def lead_a() -> None:
            a_leads.set()
            a_leave.wait()

        def lead_b() -> None:
            granted[0] = time.perf_counter()
            b_leads.set()

        ta = threading.Thread(target=ea.run, args=(lead_a,))
        ta.start()
        a_leads.wait(10)
        tb = threading.Thread(target=eb.run, args=(lead_b,))
        tb.start()
        time.sleep(0.05)  # b's node is in place, its watch set
        t0 = time.perf_counter()
        a_leave.set()  # a's run() returns and its lock is released
        if not b_leads.wait(30):
            raise RuntimeError(f"b did not lead {latch}")
        ta.join()
        tb.join()
        return granted[0] - t0


def stats(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {
        "n": len(samples),
        "p50_ms": statistics.median(samples) * 1e3,
        "p90_ms": ordered[round((len(ordered) - 1) * 0.9)] * 1e3,
    }


def contended(
    impl: Backend, hosts: str, path: str, sessions: int, seconds: int
) -> dict[str, float]:
    clients = [impl.connect(hosts) for _ in range(sessions)]
    start = threading.Barrier(sessions + 1)
    counts = [0] * sessions
    deadline = [float("inf")]

    def worker(i: int) -> None:
        cycle = impl.lock_cycle(clients[i], path)
        cycle()  # warm: the path exists, the code is loaded
        start.wait()
        n = 0
        while time.monotonic() < deadline[0]:
            cycle()
            n += 1
        counts[i] = n

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(sessions)]
    for t in threads:
        t.start()
    while start.n_waiting < sessions:  # every session warmed and waiting
        time.sleep(0.001)
    t0 = time.monotonic()
    deadline[0] = t0 + seconds
    start.wait()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - t0
    for c in clients:
        impl.close(c)
    return {"acquisitions": sum(counts), "seconds": elapsed, "per_s": sum(counts) / elapsed}


def main(argv: list[str]) -> int:
    if len(argv) < 5 or argv[1] not in ("zkha", "kazoo"):
        print(__doc__, file=sys.stderr)
        return 2
    impl: Backend = Zkha() if argv[1] == "zkha" else Kazoo()
    workload, hosts, path = argv[2], argv[3], argv[4]
    nums = [int(x) for x in argv[5:]]
    out: dict[str, float]
    if workload in ("lock", "cycles"):
        warmup, cycles = (nums[0], nums[1]) if workload == "lock" else (0, nums[0])
        client = impl.connect(hosts)
        cycle = impl.lock_cycle(client, path)
        for _ in range(warmup):
            cycle()
        if workload == "cycles":
            for _ in range(cycles):
                cycle()
            out = {"n": cycles}
        else:
            lat = []
            for _ in range(cycles):
                t = time.perf_counter()
                cycle()
                lat.append(time.perf_counter() - t)
            out = stats(lat)
        impl.close(client)
    elif workload == "contended":
        out = contended(impl, hosts, path, nums[0], nums[1])
    elif workload == "handover":
        a, b = impl.connect(hosts), impl.connect(hosts)
        out = stats([impl.handover(a, b, f"{path}/{i}") for i in range(nums[0])])
        impl.close(a)
        impl.close(b)
    else:
        print(__doc__, file=sys.stderr)
        return 2
    print(json.dumps(out), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))

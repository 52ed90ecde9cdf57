"""Python-side benchmarks: zkha next to kazoo (from PyPI) on the same ensemble in the same run,
interleaved, printing JSON lines {metric, value, unit, config} like ``make bench``.

- lock cycle: acquire + release of an uncontended lock (zkha.Lock vs kazoo Lock), one client;
- election hand-over: the leader leaves, time until the next contender is told it leads
  (zkha Election vs kazoo Election), two clients in this process.

Measured after ``ZKHA_BENCH_WARMUP_S`` (default 5) seconds of lock cycles of both on the
fresh ensemble.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

from kazoo.client import KazooClient

import zkha

ROOT = Path(__file__).resolve().parents[2]
TESTKIT = str(ROOT / "target" / "debug" / "zkha-testkit")
CYCLES = int(os.environ.get("ZKHA_BENCH_CYCLES", "300"))
HANDOVERS = int(os.environ.get("ZKHA_BENCH_HANDOVERS", "20"))
# The ensemble is fresh: its JVMs need a few thousand requests before a round trip settles
# (a lock cycle read 1.7-1.9 ms over the first 500 cycles, 0.9 ms after).
WARMUP_S = float(os.environ.get("ZKHA_BENCH_WARMUP_S", "5"))


def emit(metric: str, value: float, unit: str, config: str, **extra: object) -> None:
    line = {"metric": metric, "value": round(value, 3), "unit": unit, "config": config, **extra}
    print(json.dumps(line), flush=True)


def lock_cycles(zk: zkha.Client, kz: KazooClient, base: str) -> tuple[list[float], list[float]]:
    zl = zk.lock(f"{base}/zkha-lock")
    kl = kz.Lock(f"{base}/kazoo-lock", "bench")
    zs, ks = [], []
    warm_until = time.monotonic() + WARMUP_S
    while time.monotonic() < warm_until:  # warm-up, both alike
        with zl:
            pass
        with kl:
            pass
    for _ in range(CYCLES):  # interleaved, so drift hits both alike
        t = time.perf_counter()
        with zl:
            pass
        zs.append(time.perf_counter() - t)
        t = time.perf_counter()
        with kl:
            pass
        ks.append(time.perf_counter() - t)
    return zs, ks


def zkha_handover(a: zkha.Client, b: zkha.Client, path: str) -> float:
    ea = a.election(path, "a")
    ea.wait(10)
    eb = b.election(path, "b")
    got = threading.Event()
    t_granted = [0.0]

    def waiter() -> None:
        eb.wait(30)
        t_granted[0] = time.perf_counter()
        got.set()

    th = threading.Thread(target=waiter)
    th.start()
    time.sleep(0.05)  # b's node is in place
    t0 = time.perf_counter()
    ea.close()
    got.wait(30)
    th.join()
    eb.close()
    return t_granted[0] - t0


def kazoo_handover(a: KazooClient, b: KazooClient, path: str) -> float:
    ea, eb = a.Election(path, "a"), b.Election(path, "b")
    a_leads, a_leave, b_leads = threading.Event(), threading.Event(), threading.Event()
    t_granted = [0.0]

    def lead_a() -> None:
        a_leads.set()
        a_leave.wait()

    def lead_b() -> None:
        t_granted[0] = time.perf_counter()
        b_leads.set()

    ta = threading.Thread(target=ea.run, args=(lead_a,))
    ta.start()
    a_leads.wait(10)
    tb = threading.Thread(target=eb.run, args=(lead_b,))
    tb.start()
    time.sleep(0.05)
    t0 = time.perf_counter()
    a_leave.set()
    b_leads.wait(30)
    ta.join()
    tb.join()
    return t_granted[0] - t0


def report(name: str, unit_scale: float, unit: str, z: list[float], k: list[float], cfg: str):
    zm, km = statistics.median(z) * unit_scale, statistics.median(k) * unit_scale
    emit(f"python_{name}_zkha_p50", zm, unit, cfg, n=len(z))
    emit(f"python_{name}_kazoo_p50", km, unit, cfg, n=len(k))
    emit(f"python_{name}_kazoo_over_zkha", km / zm, "ratio", cfg)


def main() -> int:
    out = subprocess.run(
        [TESTKIT, "ensemble", "start", "--nodes", "3", "--json", "--owner-pid", str(os.getpid())],
        capture_output=True,
        text=True,
        check=True,
    )
    ens = json.loads(out.stdout)
    hosts = ens["connect_string"]
    cfg = f"3-node ensemble, same process, {CYCLES} cycles / {HANDOVERS} hand-overs"
    base = f"/bench-py/{uuid.uuid4().hex[:8]}"
    try:
        zk1, zk2 = zkha.Client(hosts, 10), zkha.Client(hosts, 10)
        kz1, kz2 = KazooClient(hosts, timeout=10), KazooClient(hosts, timeout=10)
        kz1.start()
        kz2.start()
        try:
            zs, ks = lock_cycles(zk1, kz1, base)
            report("lock_cycle", 1e6, "us", zs, ks, cfg)
            zh, kh = [], []
            for i in range(HANDOVERS):
                zh.append(zkha_handover(zk1, zk2, f"{base}/zkha-elect-{i}"))
                kh.append(kazoo_handover(kz1, kz2, f"{base}/kazoo-elect-{i}"))
            report("election_handover", 1e3, "ms", zh, kh, cfg)
        finally:
            for k in (kz1, kz2):
                k.stop()
                k.close()
            zk1.close()
            zk2.close()
    finally:
        subprocess.run([TESTKIT, "ensemble", "stop", ens["handle"]], check=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())

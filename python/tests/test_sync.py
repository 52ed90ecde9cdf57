"""The sync API against a real ensemble."""

from __future__ import annotations

import logging
import os
import signal
import threading
import time

import pytest

import zkha


def test_connect_state_and_znodes(client: zkha.Client, path: str) -> None:
    assert client.state == "connected"
    assert client.session_id != 0
    assert 0 < (client.session_timeout or 0) <= 6
    assert client.get(path) is None
    client.put(f"{path}/a", b"one")
    assert client.get(f"{path}/a") == b"one"
    assert client.children(path) == ["a"]
    client.delete(path)
    assert client.children(path) is None


def test_state_iterator_and_callback(hosts: str) -> None:
    seen: list[str] = []
    c = zkha.Client(hosts, session_timeout=6)
    c.on_state_change(seen.append)
    it = c.states(timeout=5)
    assert next(it) == "connected"
    c.close()
    assert list(it) == ["closed"]
    assert seen[0] == "connected" and seen[-1] == "closed"
    assert c.state == "closed"


def test_election_events_and_fencing(client: zkha.Client, hosts: str, path: str) -> None:
    with zkha.Client(hosts, session_timeout=6) as other:
        a = client.election(path, "a")
        lead = a.wait(10)
        assert a.is_leader and a.fencing_token == lead.fencing_token
        assert a.leadership == lead
        ev = a.next_event(5)
        assert ev is not None and ev.kind == "granted" and ev.leadership == lead
        b = other.election(path, "b")
        with pytest.raises(zkha.TimeoutError):
            b.wait(0.5)
        a.close()
        ev = a.next_event(5)
        assert ev is not None and ev.kind == "revoked" and ev.reason == "closed"
        lead_b = b.wait(10)
        assert lead_b.fencing_token > lead.fencing_token
        assert b.is_leader and not a.is_leader
        b.close()


def test_publish_leader_info_is_fenced(client: zkha.Client, hosts: str, path: str) -> None:
    """The leader's write lands while it leads; after it left, nothing is written."""
    with zkha.Client(hosts, session_timeout=6) as other:
        a = client.election(f"{path}/latch", "a")
        a.wait(10)
        a.publish_leader_info(f"{path}/info", b"a")
        assert other.get(f"{path}/info") == b"a"
        b = other.election(f"{path}/latch", "b")
        a.close()
        b.wait(10)
        with pytest.raises(zkha.NotLeaderError):
            a.publish_leader_info(f"{path}/info", b"stale")
        b.publish_leader_info(f"{path}/info", b"b")
        assert client.get(f"{path}/info") == b"b"
        b.close()


def test_election_reports_a_persistent_error(client: zkha.Client, hosts: str, path: str) -> None:
    from kazoo.client import KazooClient
    from kazoo.security import make_acl

    kz = KazooClient(hosts=hosts)
    kz.start()
    try:
        # A latch parent anyone may read (and fix), but nobody may create children in.
        kz.create(path, b"", acl=[make_acl("world", "anyone", read=True, admin=True)])
        e = client.election(path, "a")
        with pytest.raises(zkha.NoAuthError) as raised:
            e.wait(10)
        assert path in str(raised.value)
        ev = e.next_event(5)
        assert ev is not None and ev.kind == "error"
        assert isinstance(ev.error, zkha.NoAuthError) and path in str(ev.error)
        kz.set_acls(path, [make_acl("world", "anyone", all=True)])
        assert e.wait(15).fencing_token > 0
        e.close()
    finally:
        kz.stop()
        kz.close()


def test_lock_context_manager_and_timeout(client: zkha.Client, hosts: str, path: str) -> None:
    with zkha.Client(hosts, session_timeout=6) as other:
        with client.lock(path) as g:
            assert g.is_held and g.fencing_token > 0
            t0 = time.monotonic()
            with pytest.raises(zkha.TimeoutError):
                with other.lock(path, timeout=0.3):
                    pass
            assert time.monotonic() - t0 < 3
        assert not g.is_held
        with other.lock(path, timeout=5) as g2:
            assert g2.is_held


def test_read_write_lock_and_semaphore(client: zkha.Client, hosts: str, path: str) -> None:
    with zkha.Client(hosts, session_timeout=6) as other:
        rw1, rw2 = client.read_write_lock(f"{path}/rw"), other.read_write_lock(f"{path}/rw")
        with rw1.read, rw2.read:
            with pytest.raises(zkha.TimeoutError):
                rw2.write.acquire(0.3)
        with rw2.write.acquire(5):
            with pytest.raises(zkha.TimeoutError):
                rw1.read.acquire(0.3)
        s1, s2 = client.semaphore(f"{path}/sem", 2), other.semaphore(f"{path}/sem", 2)
        with s1.acquire(5), s2.acquire(5):
            with pytest.raises(zkha.TimeoutError):
                s1.acquire(0.3)


def test_blocking_acquire_releases_the_gil(client: zkha.Client, hosts: str, path: str) -> None:
    with zkha.Client(hosts, session_timeout=6) as other, client.lock(path):
        ticks = 0
        done = threading.Event()

        def spin() -> None:
            nonlocal ticks
            while not done.is_set():
                ticks += 1
                time.sleep(0.001)

        t = threading.Thread(target=spin)
        t.start()
        with pytest.raises(zkha.TimeoutError):
            other.lock(path).acquire(0.5)
        done.set()
        t.join()
        assert ticks > 50  # the other thread ran while we waited


def test_ctrl_c_interrupts_acquire_and_leaves_no_node(
    client: zkha.Client, hosts: str, path: str
) -> None:
    with zkha.Client(hosts, session_timeout=6) as other, client.lock(path):
        # Ctrl-C until the acquire is interrupted: one SIGINT was once lost in a full run
        # (the suite hung here), and a lost one must fail the test, never hang it.
        waiting = threading.Event()

        def interrupt() -> None:
            while waiting.wait(5) and not done.wait(0.3):
                if waiting.is_set():
                    os.kill(os.getpid(), signal.SIGINT)

        done = threading.Event()
        sender = threading.Thread(target=interrupt)
        sender.start()
        t0 = time.monotonic()
        try:
            with pytest.raises(KeyboardInterrupt):
                waiting.set()
                other.lock(path).acquire(timeout=20)
        finally:
            waiting.clear()
            done.set()
            sender.join()
        assert time.monotonic() - t0 < 2
        # the waiter's node is removed: only the holder's node remains
        deadline = time.monotonic() + 5
        while len(client.children(path) or []) != 1 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(client.children(path) or []) == 1


def test_counter(client: zkha.Client, path: str) -> None:
    c = client.counter(path, initial=5)
    assert c.get_and_increment() == 5
    value, version = c.get()
    assert value == 6
    assert c.compare_and_set(version, 10)
    assert not c.compare_and_set(version, 11)
    assert c.value == 10
    assert client.get(path) == (10).to_bytes(4, "big")  # Flink's SharedCount bytes
    c.remove()


def test_pointer_store(client: zkha.Client, path: str) -> None:
    s = client.pointer_store(path)
    s.add_and_lock("0000000000000000001", b"ptr1")
    s.add_and_lock("0000000000000000002", b"ptr2")
    assert sorted(s.names()) == ["0000000000000000001", "0000000000000000002"]
    e = s.get_and_lock("0000000000000000001")
    assert e.data == b"ptr1" and e.name == "0000000000000000001"
    assert [x.data for x in sorted(s.get_all_and_lock(), key=lambda x: x.name)] == [
        b"ptr1",
        b"ptr2",
    ]
    assert s.release_and_try_remove("0000000000000000001")
    assert s.exists("0000000000000000001") is None
    with pytest.raises(zkha.NodeExistsError):
        s.add_and_lock("0000000000000000002", b"again")
    s.release_all()


def test_config_watch(client: zkha.Client, path: str) -> None:
    client.put(f"{path}/a", b"1")
    w = client.config_watch(path)
    assert w.snapshot() == {"a": b"1"}
    assert w.initial == {"a": b"1"}
    assert w.next_change(0.3) is None, "what initial holds is not a change"
    client.put(f"{path}/b/c", b"2")
    seen = {}
    deadline = time.monotonic() + 5
    while "b/c" not in seen and time.monotonic() < deadline:
        ch = w.next_change(1)
        if ch is not None:
            seen[ch.path] = ch.value
    assert seen.get("b/c") == b"2"
    assert w.get("b/c") == b"2"


def test_leader_watch(client: zkha.Client, path: str) -> None:
    w = client.leader_watch(f"{path}/connection_info")
    assert w.next_value(5) is None
    client.put(f"{path}/connection_info", b"x")
    assert w.next_value(5) == b"x"
    assert w.current == b"x"


def test_errors_are_typed_with_useful_messages(client: zkha.Client, tmp_path) -> None:
    with pytest.raises(zkha.InvalidArgumentError, match="relative"):
        client.get("relative/path")
    with pytest.raises(zkha.InvalidArgumentError):
        client.lock("no-slash").acquire(1)
    with pytest.raises(zkha.InvalidArgumentError, match="malformed"):
        zkha.Client("no such:host:port", 5)
    with pytest.raises(ValueError, match="unknown lock kind"):
        client._c.acquire("nope", "/x")
    with pytest.raises(zkha.IoError, match="missing.yaml"):
        zkha.Client.from_flink_config(str(tmp_path / "missing.yaml"))
    cfg = tmp_path / "config.yaml"
    cfg.write_text("high-availability.type: zookeeper\n")
    with pytest.raises(zkha.ConfigError, match="quorum"):
        zkha.Client.from_flink_config(str(cfg))
    assert issubclass(zkha.TimeoutError, TimeoutError)
    assert issubclass(zkha.NoNodeError, zkha.ZkhaError)


def test_from_flink_config(hosts: str, tmp_path) -> None:
    cfg = tmp_path / "config.yaml"
    cfg.write_text(
        "high-availability:\n"
        "  type: zookeeper\n"
        f"  zookeeper.quorum: {hosts}\n"
        "  storageDir: file:///tmp/ha\n"
        "  zookeeper.client.session-timeout: 7 s\n"
    )
    with zkha.Client.from_flink_config(str(cfg)) as c:
        assert c.state == "connected"
        assert c.session_timeout is not None and c.session_timeout <= 7


def test_core_logs_reach_python_logging(hosts: str, caplog: pytest.LogCaptureFixture) -> None:
    zkha.set_log_level(logging.INFO)
    try:
        with caplog.at_level(logging.INFO, logger="zkha"):
            with zkha.Client(hosts, session_timeout=6):
                pass
            deadline = time.monotonic() + 3
            while not any(r.name.startswith("zkha") for r in caplog.records):
                if time.monotonic() > deadline:
                    break
                time.sleep(0.05)
        names = {r.name for r in caplog.records}
        assert any(n.startswith("zkha.") for n in names), names
    finally:
        zkha.set_log_level()


def test_ctrl_c_interrupts_election_wait(client: zkha.Client, hosts: str, path: str) -> None:
    with zkha.Client(hosts, session_timeout=6) as other:
        leader = client.election(path, "a")
        leader.wait(10)
        waiting = other.election(path, "b")
        timer = threading.Timer(0.3, lambda: os.kill(os.getpid(), signal.SIGINT))
        timer.start()
        t0 = time.monotonic()
        with pytest.raises(KeyboardInterrupt):
            waiting.wait(60)
        timer.join()
        assert time.monotonic() - t0 < 2
        waiting.close()
        leader.close()


@pytest.mark.parametrize("mode", ["sync", "asyncio"])
def test_exit_without_close(hosts: str, path: str, mode: str) -> None:
    """A process that exits with open clients, a held lock and a pending asyncio operation
    ends promptly and cleanly."""
    import subprocess
    import sys

    script = {
        "sync": (
            "import zkha\n"
            f"c = zkha.Client({hosts!r}, 5)\n"
            f"g = c.lock({path!r}).acquire(5)\n"
            f"e = c.election({path!r} + '-e', 'x'); e.wait(5)\n"
            "print('ok')\n"
        ),
        "asyncio": (
            "import asyncio, zkha.aio\n"
            "async def main():\n"
            f"    c = await zkha.aio.connect({hosts!r}, 5)\n"
            f"    await c.lock({path!r}).acquire(5)\n"
            f"    t = asyncio.ensure_future(c.lock({path!r}).acquire())\n"
            "    await asyncio.sleep(0.2)\n"
            "    print('ok')\n"
            "asyncio.run(main())\n"
        ),
    }[mode]
    r = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=20)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "ok"


def test_lock_lost_reason(client: zkha.Client, hosts: str, path: str) -> None:
    g = client.lock(path).acquire(5)
    assert g.lost_reason is None  # starts watching
    with zkha.Client(hosts, session_timeout=6) as other:
        for n in other.children(path) or []:
            other.delete(f"{path}/{n}")
    deadline = time.monotonic() + 5
    while g.lost_reason is None and time.monotonic() < deadline:
        time.sleep(0.02)
    assert g.lost_reason == "node_deleted"
    assert not g.is_held
    g.release()
    released = client.lock(path).acquire(5)
    assert released.lost_reason is None
    released.release()
    assert released.lost_reason is None


def test_election_across_processes_leader_killed(hosts: str, path: str) -> None:
    """Two processes using the library; the leader is SIGKILLed; the other one leads once the
    dead leader's session expires, with a higher fencing token."""
    import json
    import subprocess
    import sys
    from pathlib import Path

    script = str(Path(__file__).with_name("contender.py"))

    def start(name: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [sys.executable, script, hosts, path, name], stdout=subprocess.PIPE, text=True
        )

    def next_event(p: subprocess.Popen[str]) -> dict:
        assert p.stdout is not None
        line = p.stdout.readline()
        assert line, f"contender ended (rc {p.poll()})"
        return json.loads(line)

    a = start("a")
    b = None
    try:
        assert next_event(a)["event"] == "joined"
        granted_a = next_event(a)
        assert granted_a["event"] == "granted"
        b = start("b")
        assert next_event(b)["event"] == "joined"
        a.kill()
        a.wait(5)
        t0 = time.monotonic()
        granted_b = next_event(b)  # blocks until b leads
        assert granted_b["event"] == "granted"
        assert granted_b["token"] > granted_a["token"]
        assert time.monotonic() - t0 < 15
    finally:
        for p in (a, b):
            if p is not None:
                p.kill()
                p.wait(5)
                if p.stdout:
                    p.stdout.close()


def test_timeouts_inf_means_no_limit_and_nan_or_negative_is_refused(
    client: zkha.Client, hosts: str, path: str
) -> None:
    # inf and values past what a duration holds wait without limit (they used to panic).
    with client.lock(path, timeout=float("inf")) as held:
        assert held.is_held
    with client.lock(path).acquire(timeout=1e300):
        pass
    with client.election(f"{path}/e", "a") as e:
        assert e.wait(float("inf")).fencing_token > 0
        ev = e.next_event(timeout=float("inf"))
        assert ev is not None and ev.kind == "granted"
    # A wait without limit still waits for a holder.
    with zkha.Client(hosts, session_timeout=6) as other:
        got: list[zkha.LockGuard] = []
        with client.lock(path):
            t = threading.Thread(
                target=lambda: got.append(other.lock(path).acquire(timeout=float("inf")))
            )
            t.start()
            time.sleep(0.3)
            assert not got, "acquired while held"
        t.join(10)
        assert got and isinstance(got[0], zkha.LockGuard)
        got[0].release()
    with client.election(f"{path}/e2", "b") as e2:
        for bad in (float("nan"), -1.0):
            with pytest.raises(ValueError, match="timeout must be a number of seconds"):
                client.lock(path).acquire(timeout=bad)
            with pytest.raises(ValueError, match="timeout must be a number of seconds"):
                e2.wait(bad)
    for key in ("session_timeout", "connection_timeout", "operation_timeout", "lease_margin"):
        for bad in (float("inf"), float("nan"), -1.0):
            with pytest.raises(ValueError, match=f"{key} must be a finite number"):
                zkha.Client(hosts, **{key: bad})


def test_one_lock_object_shared_by_threads_releases_each_own_guard(
    client: zkha.Client, path: str
) -> None:
    sem = client.semaphore(path, 2)  # one object, two holders at once
    a_in, b_in, a_out = threading.Event(), threading.Event(), threading.Event()
    seen: list[bool] = []

    def a() -> None:
        with sem:
            a_in.set()
            b_in.wait(10)
        a_out.set()

    def b() -> None:
        a_in.wait(10)
        with sem as g:
            b_in.set()
            a_out.wait(10)
            # a's exit released a's guard, not this one.
            seen.append(g.is_held)

    threads = [threading.Thread(target=a), threading.Thread(target=b)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(20)
    assert seen == [True]


def test_node_data_is_bytes_like_never_an_int(client: zkha.Client, path: str) -> None:
    # bytes(5) is five zero bytes: an int (or a bool) must be refused, not written as zeros.
    for bad in (5, True, "text", 1.5):
        with pytest.raises(TypeError, match="data must be bytes, bytearray or memoryview"):
            client.put(path, bad)  # type: ignore[arg-type]
    assert client.get(path) is None, "nothing was written"
    client.put(path, bytearray(b"ab"))
    assert client.get(path) == b"ab"
    client.put(path, memoryview(b"cd"))
    assert client.get(path) == b"cd"
    store = client.pointer_store(f"{path}/store")
    with pytest.raises(TypeError, match="data must be bytes"):
        store.add_and_lock("x", 7)  # type: ignore[arg-type]

"""Fenced writes, versioned node operations and the client options Python exposes."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

import zkha
import zkha.aio


def test_versioned_node_operations(client: zkha.Client, path: str) -> None:
    client.put(path, b"")
    assert client.stat(f"{path}/n") is None
    assert client.create(f"{path}/n", b"a") == f"{path}/n"
    with pytest.raises(zkha.NodeExistsError):
        client.create(f"{path}/n", b"again")
    seq = client.create(f"{path}/q-", b"", mode="ephemeral_sequential")
    assert seq.startswith(f"{path}/q-") and len(seq) > len(f"{path}/q-")
    st = client.stat(f"{path}/n")
    assert st is not None and (st.version, st.data_length, st.ephemeral_owner) == (0, 1, 0)
    assert client.set(f"{path}/n", b"bb", version=0).version == 1
    with pytest.raises(zkha.BadVersionError) as stale:
        client.set(f"{path}/n", b"c", version=0)
    assert stale.value.kind == "bad_version" and stale.value.outcome_unknown is False
    got = client.get_with_stat(f"{path}/n")
    assert got is not None and got[0] == b"bb" and got[1].version == 1
    with pytest.raises(zkha.NotEmptyError):
        client.delete_node(path)
    with pytest.raises(zkha.BadVersionError):
        client.delete_node(f"{path}/n", version=0)
    client.delete_node(f"{path}/n", version=1)
    with pytest.raises(zkha.NoNodeError):
        client.delete_node(f"{path}/n")
    with pytest.raises(zkha.InvalidArgumentError, match="node mode"):
        client.create(f"{path}/m", b"", mode="forever")  # type: ignore[arg-type]
    client.delete(path)


def test_fenced_writes_land_only_while_the_lock_is_held(client: zkha.Client, path: str) -> None:
    register = f"{path}/register"
    with client.lock(f"{path}/lock", timeout=5) as guard:
        fence = guard.fence()
        assert fence.token == guard.fencing_token and fence.node == guard.node
        assert fence.session_id == client.session_id
        assert fence.put(register, b"1").version == 0  # parents created
        results = fence.multi(
            [
                zkha.CheckOp(register, version=0),
                zkha.SetDataOp(register, b"2", version=0),
                zkha.CreateOp(f"{path}/item-", b"x", mode="persistent_sequential"),
            ]
        )
        assert [r.kind for r in results] == ["checked", "set", "created"]
        assert results[1].stat is not None and results[1].stat.version == 1
        assert results[2].path is not None and results[2].path.startswith(f"{path}/item-")
        # all or none: a failing check leaves the set undone
        with pytest.raises(zkha.BadVersionError):
            fence.multi([zkha.SetDataOp(register, b"3"), zkha.CheckOp(register, version=0)])
        assert client.get(register) == b"2"
        with pytest.raises(TypeError, match="not an operation"):
            fence.multi(["set"])  # type: ignore[list-item]
    with pytest.raises(zkha.ClosedError):
        guard.fence()
    for write in (lambda: fence.put(register, b"late"), lambda: fence.delete(register)):
        with pytest.raises(zkha.NotLeaderError) as refused:
            write()
        assert refused.value.outcome_unknown is False
    assert client.get(register) == b"2"


def test_an_elections_fence(client: zkha.Client, path: str) -> None:
    with client.election(f"{path}/latch") as e:
        lead = e.wait(10)
        fence = e.fence()
        assert fence.token == lead.fencing_token
        fence.put(f"{path}/leader-data", b"mine")
    with pytest.raises(zkha.NotLeaderError):
        e.fence()
    with pytest.raises(zkha.NotLeaderError):
        fence.put(f"{path}/leader-data", b"stale")
    assert client.get(f"{path}/leader-data") == b"mine"


def test_a_stale_holder_in_another_process_cannot_write(hosts: str, path: str) -> None:
    """A holder paused past its session timeout comes back still holding its fence: its
    write is refused, and the register keeps what the next holder wrote."""
    script = str(Path(__file__).with_name("fenced_holder.py"))
    lock, register = f"{path}/lock", f"{path}/register"
    child = subprocess.Popen(
        [sys.executable, script, hosts, lock, register],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert child.stdin is not None and child.stdout is not None
    try:
        held = json.loads(child.stdout.readline())
        assert held["event"] == "held"
        os.kill(child.pid, signal.SIGSTOP)
        with zkha.Client(hosts, session_timeout=6) as c:
            # The server expires the paused child's session; its lock node goes with it.
            with c.lock(lock, timeout=20) as guard:
                assert guard.fencing_token > held["token"]
                guard.fence().put(register, b"parent")
                os.kill(child.pid, signal.SIGCONT)
                child.stdin.write("write\n")
                child.stdin.flush()
                out = json.loads(child.stdout.readline())
                assert out["event"] == "refused", out
                assert out["kind"] in ("not_leader", "session_expired"), out
                assert c.get(register) == b"parent"
    finally:
        os.kill(child.pid, signal.SIGCONT)
        child.stdin.close()
        child.wait(20)


def test_retry_and_liveness_options(hosts: str, path: str) -> None:
    with pytest.raises(ValueError, match="retry base_wait"):
        zkha.Client(hosts, retry=zkha.Retry(base_wait=-1))
    with pytest.raises(zkha.InvalidArgumentError, match="liveness listen host"):
        zkha.Client(hosts, liveness=zkha.Liveness(listen_host="not an ip"))
    with zkha.Client(hosts, retry=zkha.Retry(5, 0.05, 1.0), liveness=False) as plain:
        with plain.election(f"{path}/plain") as e:
            e.wait(10)
            assert e.node is not None and "-zkha@" not in e.node
    link = zkha.Liveness(listen_host="127.0.0.1", advertise="127.0.0.1")
    with zkha.Client(hosts, liveness=link) as linked:
        with linked.election(f"{path}/linked") as e:
            e.wait(10)
            assert e.node is not None and "-zkha@127.0.0.1:" in e.node


def test_asyncio_fences_and_nodes(hosts: str, path: str) -> None:
    async def main() -> None:
        async with zkha.aio.connect(hosts, 6, liveness=False) as c:
            assert await c.create(path, b"v") == path
            st = await c.stat(path)
            assert st is not None and st.version == 0
            assert (await c.set(path, b"w", version=0)).version == 1
            got = await c.get_with_stat(path)
            assert got is not None and got[0] == b"w"
            async with c.lock(f"{path}-lock", timeout=5) as guard:
                fence = guard.fence()
                await fence.put(path, b"fenced")
                (result,) = await fence.multi([zkha.CheckOp(path)])
                assert result.kind == "checked"
            with pytest.raises(zkha.NotLeaderError):
                await fence.delete(path)
            await c.delete_node(path)
            assert await c.stat(path) is None

    start = time.monotonic()
    asyncio.run(main())
    assert time.monotonic() - start < 30


def test_contenders_in_queue_order(client: zkha.Client, hosts: str, path: str) -> None:
    assert client.contenders(f"{path}/latch") == []
    with client.election(f"{path}/latch", "first") as first:
        first.wait(10)
        with zkha.Client(hosts, session_timeout=6) as other:
            with other.election(f"{path}/latch", "second") as second:
                deadline = time.monotonic() + 5
                while len(first.contenders()) < 2:
                    assert time.monotonic() < deadline, "the second contender never queued"
                    time.sleep(0.02)
                queue = second.contenders()
                assert [c.participant_id for c in queue] == ["first", "second"]
                assert queue[0].stat.ephemeral_owner == client.session_id
                assert queue[1].stat.ephemeral_owner == other.session_id
                assert first.node is not None and first.node.endswith(queue[0].node)
    lock = client.lock(f"{path}/lock")
    with lock:
        (holder,) = lock.contenders()
        assert holder.stat.ephemeral_owner == client.session_id


def test_asyncio_contenders(hosts: str, path: str) -> None:
    async def main() -> None:
        async with zkha.aio.connect(hosts, 6) as c:
            async with c.election(f"{path}/latch", "solo") as e:
                await e.wait(10)
                (only,) = await e.contenders()
                assert only.participant_id == "solo"
                assert [x.node for x in await c.contenders(f"{path}/latch")] == [only.node]

    asyncio.run(main())


def test_watches_on_any_node(client: zkha.Client, path: str) -> None:
    seen: list[list[str] | None] = []
    kids = client.watch_children(path, on_change=seen.append)
    data = client.watch_data(f"{path}/a")
    values = data.values(timeout=5)
    assert next(values) is None  # not there yet
    client.put(f"{path}/a", b"1")
    assert next(values) == b"1"
    client.put(f"{path}/b", b"")
    deadline = time.monotonic() + 5
    while seen[-1:] != [["a", "b"]]:
        assert time.monotonic() < deadline, seen
        time.sleep(0.02)
    assert seen[0] is None and seen.index(["a"]) < seen.index(["a", "b"])
    assert kids.current == ["a", "b"]
    client.set(f"{path}/a", b"2")
    assert data.next_value(5) == b"2"
    with pytest.raises(zkha.TimeoutError, match=f"data of {path}/a"):
        data.next_value(0.2)
    kids.close()
    assert not [t for t in threading.enumerate() if t.name.startswith("zkha-watch")]


def test_asyncio_watches(hosts: str, path: str) -> None:
    async def main() -> None:
        async with zkha.aio.connect(hosts, 6) as c:
            w = c.watch_children(path)
            got = w.values(timeout=5)
            assert await got.__anext__() is None
            await c.put(f"{path}/x", b"")
            while (v := await got.__anext__()) != ["x"]:
                assert v in (None, [])
            assert w.current == ["x"]

    asyncio.run(main())


def test_watch_callbacks_survive_errors_and_watches_end_when_closed(
    client: zkha.Client, path: str, caplog: pytest.LogCaptureFixture
) -> None:
    calls: list[bytes | None] = []

    def flaky(v: bytes | None) -> None:
        calls.append(v)
        if len(calls) == 1:
            raise RuntimeError("first call fails")

    with client.watch_data(path, on_change=flaky):
        client.put(path, b"after the failure")
        deadline = time.monotonic() + 5
        while b"after the failure" not in calls:
            assert time.monotonic() < deadline, calls
            time.sleep(0.02)
    assert "first call fails" in caplog.text
    assert client._watches == [], "a closed watch is not kept by its client"
    client.watch_children(path)  # no callback: not kept either
    assert client._watches == []


def test_an_elections_contenders_under_a_namespace(hosts: str, path: str) -> None:
    with zkha.Client(hosts, session_timeout=6, namespace=path) as c:
        with c.election("/latch", "ns") as e:
            e.wait(10)
            assert [x.participant_id for x in e.contenders()] == ["ns"]

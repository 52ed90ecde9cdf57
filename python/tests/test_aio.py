"""The asyncio twins against a real ensemble."""

from __future__ import annotations

import asyncio
import time

import pytest

import zkha
import zkha.aio

pytestmark = pytest.mark.asyncio


async def test_connect_znodes_and_states(hosts: str, path: str) -> None:
    async with zkha.aio.connect(hosts, session_timeout=6) as c:
        assert c.state == "connected"
        await c.put(f"{path}/a", b"x")
        assert await c.get(f"{path}/a") == b"x"
        assert await c.children(path) == ["a"]
        await c.delete(path)
        assert await c.get(f"{path}/a") is None
        states = c.states(timeout=5)
        assert await states.__anext__() == "connected"
    assert [s async for s in states] == ["closed"]


async def test_election_hand_over(hosts: str, path: str) -> None:
    async with (
        zkha.aio.connect(hosts, session_timeout=6) as c1,
        zkha.aio.connect(hosts, session_timeout=6) as c2,
    ):
        a = c1.election(path, "a")
        lead = await a.wait(10)
        assert a.is_leader
        b = c2.election(path, "b")
        with pytest.raises(zkha.TimeoutError):
            await b.wait(0.3)
        await a.close()
        ev = await a.next_event(5)  # granted (queued) then revoked
        assert ev is not None and ev.kind == "granted"
        ev = await a.next_event(5)
        assert ev is not None and ev.kind == "revoked"
        lead_b = await b.wait(10)
        assert lead_b.fencing_token > lead.fencing_token
        async for ev in b:
            assert ev.kind == "granted"
            break
        await b.close()


async def test_step_down_hands_over_and_tells_the_old_leader(hosts: str, path: str) -> None:
    async with (
        zkha.aio.connect(hosts, session_timeout=6) as c1,
        zkha.aio.connect(hosts, session_timeout=6) as c2,
    ):
        a = c1.election(path, "a")
        await a.wait(10)
        b = c2.election(path, "b")
        with pytest.raises(zkha.TimeoutError):
            await b.wait(0.3)
        report = await c2.step_down(path)
        assert report["leader"]["participant_id"] == "a"
        assert report["new_leader"]["participant_id"] == "b"
        await b.wait(5)
        kinds = [(await a.next_event(5)) for _ in range(2)]
        assert [(e.kind, e.reason) for e in kinds if e is not None] == [
            ("granted", None),
            ("revoked", "step_down"),
        ]
        await b.close()
        with pytest.raises(zkha.InvalidArgumentError, match="no standby"):
            await c2.step_down(path)
        await a.close()


async def test_config_store_push_pull_and_conflict(hosts: str, path: str) -> None:
    import zkha.flink

    async with zkha.aio.connect(hosts, session_timeout=6) as c:
        store = zkha.flink.AsyncConfigStore(c, f"{path}/zkha-config/aio")
        assert await store.current() is None
        doc = await store.push("base", "rest.port: 8081\n", "first", expected=0)
        assert doc["version"] == 1
        with pytest.raises(zkha.BadVersionError, match="version 1 by"):
            await store.push("base", "rest.port: 8082\n", "stale", expected=0)
        version, text = await store.pull("jobmanager")
        assert version == 1 and '"rest.port": "8081"' in text
        assert [h["version"] for h in await store.history()] == [1]
        assert (await store.rollback(1, "again"))["version"] == 2
        assert await store.status() == []
        tm = "taskmanager.numberOfTaskSlots: 4\n"
        assert await store.preview("role:taskmanager", tm) == [
            {"key": "taskmanager.numberOfTaskSlots", "before": None, "after": "4"}
        ]
        with pytest.raises(zkha.ConfigError, match="my.credential"):
            await store.preview("base", "my.credential: x\n", secret_markers=["credential"])
        assert (await store.push("role:taskmanager", tm, "tm"))["version"] == 3
        assert await store.diff(2, 3, role="taskmanager") == [
            {"key": "taskmanager.numberOfTaskSlots", "before": None, "after": "4"}
        ]
        assert (await store.remove_overlay("role:taskmanager", "tm gone"))["version"] == 4
        version, text = await store.pull("taskmanager", file_name="flink-conf.yaml")
        assert version == 4 and "taskmanager.numberOfTaskSlots" not in text
        assert "rest.port: 8081" in text, "the legacy format"


async def test_lock_cancel_and_concurrency(hosts: str, path: str) -> None:
    async with (
        zkha.aio.connect(hosts, session_timeout=6) as c1,
        zkha.aio.connect(hosts, session_timeout=6) as c2,
    ):
        async with c1.lock(path) as g:
            assert g.is_held
            with pytest.raises(zkha.TimeoutError):
                await c2.lock(path).acquire(0.3)
            waiter = asyncio.create_task(c2.lock(path).acquire())
            # the loop stays responsive while the core waits
            t0 = time.monotonic()
            await asyncio.sleep(0.2)
            assert time.monotonic() - t0 < 1
            waiter.cancel()
            with pytest.raises(asyncio.CancelledError):
                await waiter
            deadline = time.monotonic() + 5
            while len(await c1.children(path) or []) != 1 and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
            assert len(await c1.children(path) or []) == 1  # the cancelled waiter's node is gone
        async with c2.lock(path, timeout=5):
            pass
        rw = c1.read_write_lock(f"{path}/rw")
        async with rw.read, c2.read_write_lock(f"{path}/rw").read:
            pass
        async with c1.semaphore(f"{path}/s", 2), c2.semaphore(f"{path}/s", 2):
            with pytest.raises(zkha.TimeoutError):
                await c1.semaphore(f"{path}/s", 2).acquire(0.3)


async def test_counter_store_watches(hosts: str, path: str) -> None:
    async with zkha.aio.connect(hosts, session_timeout=6) as c:
        n = c.counter(f"{path}/n", initial=1)
        assert await n.get_and_increment() == 1
        v, ver = await n.get()
        assert v == 2 and await n.compare_and_set(ver, 7)
        s = c.pointer_store(f"{path}/store")
        await s.add_and_lock("e1", b"p")
        assert (await s.get_and_lock("e1")).data == b"p"
        assert await s.names() == ["e1"]
        assert await s.release_and_try_remove("e1")
        await c.put(f"{path}/cfg/k", b"v")
        w = await c.config_watch(f"{path}/cfg")
        assert w.snapshot() == {"k": b"v"}
        await c.put(f"{path}/cfg/k", b"w")
        async for ch in w.changes(timeout=5):
            if ch.value == b"w":
                break
        else:
            pytest.fail("no change seen")
        lw = c.leader_watch(f"{path}/leader")
        assert await lw.next_value(5) is None
        await c.put(f"{path}/leader", b"L")
        assert await lw.next_value(5) == b"L"


async def test_errors(hosts: str) -> None:
    with pytest.raises(zkha.InvalidArgumentError):
        await zkha.aio.connect("bad host!!", 5)
    async with zkha.aio.connect(hosts, session_timeout=6) as c:
        with pytest.raises(zkha.InvalidArgumentError, match="relative"):
            await c.get("relative")


async def test_one_lock_object_shared_by_tasks_releases_each_own_guard(
    hosts: str, path: str
) -> None:
    async with zkha.aio.connect(hosts, session_timeout=6) as c:
        sem = c.semaphore(path, 2)  # one object, two holders at once
        a_in, b_in, a_out = asyncio.Event(), asyncio.Event(), asyncio.Event()
        b_guard: list[zkha.aio.LockGuard] = []

        async def a() -> None:
            async with sem:
                a_in.set()
                await b_in.wait()
            a_out.set()

        async def b() -> None:
            await a_in.wait()
            async with sem as g:
                b_guard.append(g)
                b_in.set()
                await a_out.wait()
                # a's exit released a's guard, not this one.
                assert g.is_held

        await asyncio.wait_for(asyncio.gather(a(), b()), 20)
        assert not b_guard[0].is_held


async def test_node_data_is_bytes_like_never_an_int(hosts: str, path: str) -> None:
    async with zkha.aio.connect(hosts, session_timeout=6) as c:
        with pytest.raises(TypeError, match="data must be bytes, bytearray or memoryview"):
            await c.put(path, 5)  # type: ignore[arg-type]
        assert await c.get(path) is None
        await c.put(path, bytearray(b"ab"))
        assert await c.get(path) == b"ab"

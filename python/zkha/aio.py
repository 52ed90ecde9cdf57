"""The asyncio API: the same objects as :mod:`zkha`, as awaitables, async context managers and
async iterators. Every operation runs on zkha's shared runtime and completes an asyncio future
of the running loop; cancelling the awaiting task cancels the core operation (a cancelled lock
acquire removes its node).

    async with zkha.aio.connect("zk1:2181", session_timeout=10) as client:
        async with client.lock("/locks/job", timeout=5) as guard:
            ...
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Generator, Sequence
from typing import Any, Generic, Protocol, TypeVar

from . import _security, _zkha
from ._errors import TimeoutError as _ZTimeout
from ._security import Acl, Sasl, Tls
from ._support import _data, _Holders
from ._sync import _default_id
from ._types import (
    ConfigChange,
    Contender,
    ElectionEvent,
    Entry,
    Leadership,
    Liveness,
    LockKind,
    Metrics,
    NodeMode,
    NodeStat,
    Op,
    OpResult,
    Reason,
    Retry,
    State,
    contenders,
    election_event,
    leadership,
    native_options,
    node_stat,
    op_result,
    op_tuple,
)

__all__ = [
    "Client",
    "ConfigWatch",
    "Counter",
    "Election",
    "LeaderWatch",
    "Lock",
    "LockGuard",
    "PointerStore",
    "ReadWriteLock",
    "connect",
    "from_flink_config",
]


def _loop() -> asyncio.AbstractEventLoop:
    return asyncio.get_running_loop()


class _Connecting:
    """``await connect(...)`` gives a :class:`Client`; ``async with connect(...) as c`` closes
    it at the end."""

    def __init__(self, start: Any) -> None:
        self._start = start
        self._client: Client | None = None

    async def _connect(self) -> Client:
        return Client(await self._start(_loop()))

    def __await__(self) -> Generator[Any, None, Client]:
        return self._connect().__await__()

    async def __aenter__(self) -> Client:
        self._client = await self._connect()
        return self._client

    async def __aexit__(self, *exc: object) -> None:
        if self._client is not None:
            await self._client.close()


def connect(
    hosts: str,
    session_timeout: float | None = None,
    *,
    connection_timeout: float | None = None,
    namespace: str | None = None,
    lease_margin: float | None = None,
    strict: bool | None = None,
    operation_timeout: float | None = None,
    tls: Tls | None = None,
    sasl: Sasl | None = None,
    auth: str | Sequence[str] | None = None,
    acl: Acl | None = None,
    retry: Retry | None = None,
    liveness: Liveness | bool | None = None,
    metrics: Metrics | None = None,
) -> _Connecting:
    """Connects to ``hosts`` (durations in seconds); the keywords (security, ``retry``,
    ``liveness``) and errors as for :class:`zkha.Client`."""
    security = _security.native(tls, sasl, auth, acl) | native_options(retry, liveness, metrics)

    def start(loop: asyncio.AbstractEventLoop) -> Any:
        return _zkha.Client.connect(
            hosts,
            session_timeout,
            connection_timeout,
            namespace,
            lease_margin,
            strict,
            operation_timeout,
            **security,
            aio=loop,
        )

    return _Connecting(start)


def from_flink_config(
    path: str,
    *,
    tls: Tls | None = None,
    sasl: Sasl | None = None,
    auth: str | Sequence[str] | None = None,
    acl: Acl | None = None,
) -> _Connecting:
    """Connects with the ZooKeeper settings of a Flink configuration file, its security
    included; each security keyword given replaces the file's (see
    :meth:`zkha.Client.from_flink_config`)."""
    security = _security.native(tls, sasl, auth, acl)
    return _Connecting(lambda loop: _zkha.Client.from_flink_config(str(path), **security, aio=loop))


class Client:
    """An asyncio client; make one with :func:`connect` or :func:`from_flink_config`."""

    connect = staticmethod(connect)
    from_flink_config = staticmethod(from_flink_config)

    def __init__(self, native: _zkha.Client) -> None:
        self._c = native

    async def close(self, timeout: float | None = None) -> None:
        await self._c.close(timeout, _loop())

    async def __aenter__(self) -> Client:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    @property
    def state(self) -> State:
        return self._c.state()

    @property
    def session_id(self) -> int:
        return self._c.session_id()

    @property
    def session_timeout(self) -> float | None:
        return self._c.session_timeout()

    def metrics(self) -> dict[str, Any]:
        """As :meth:`zkha.Client.metrics`."""
        result: dict[str, Any] = json.loads(self._c.metrics_json())
        return result

    @property
    def metrics_address(self) -> str | None:
        return self._c.metrics_address()

    async def states(self, timeout: float | None = None) -> AsyncIterator[State]:
        """Connection states as they happen (the current one first); ends after ``closed`` or
        when none comes within ``timeout`` seconds."""
        stream = self._c.state_events()
        while (s := await stream.next(timeout, _loop())) is not None:
            yield s
            if s == "closed":
                return

    async def get(self, path: str) -> bytes | None:
        return await self._c.get_data(path, _loop())

    async def children(self, path: str) -> list[str] | None:
        return await self._c.get_children(path, _loop())

    async def put(self, path: str, data: bytes) -> None:
        await self._c.put(path, _data(data), _loop())

    async def delete(self, path: str) -> None:
        await self._c.delete_recursive(path, _loop())

    async def create(self, path: str, data: bytes = b"", mode: NodeMode = "persistent") -> str:
        """As :meth:`zkha.Client.create`."""
        return (await self._c.create(path, _data(data), mode, _loop()))[0]

    async def stat(self, path: str) -> NodeStat | None:
        return node_stat(await self._c.exists(path, _loop()))

    async def get_with_stat(self, path: str) -> tuple[bytes, NodeStat] | None:
        got = await self._c.get_with_stat(path, _loop())
        return None if got is None else (got[0], NodeStat(*got[1]))

    async def set(self, path: str, data: bytes, version: int | None = None) -> NodeStat:
        """As :meth:`zkha.Client.set`."""
        return NodeStat(*await self._c.set_data(path, _data(data), version, _loop()))

    async def delete_node(self, path: str, version: int | None = None) -> None:
        """As :meth:`zkha.Client.delete_node`."""
        await self._c.delete(path, version, _loop())

    async def contenders(self, path: str) -> list[Contender]:
        """The contenders queued under an election's latch path or a lock's path, in queue
        order: the first leads or holds."""
        return contenders(await self._c.contenders(path, _loop()))

    async def step_down(
        self, path: str, force: bool = False, timeout: float = 30.0
    ) -> dict[str, Any]:
        """As :meth:`zkha.Client.step_down`."""
        report: dict[str, Any] = json.loads(
            await self._c.step_down_json(path, force, timeout, _loop())
        )
        return report

    def election(self, path: str, participant_id: str | None = None) -> Election:
        return Election(self._c.election(path, participant_id or _default_id()), self._c, path)

    def lock(self, path: str, timeout: float | None = None) -> Lock:
        return Lock(self._c, "mutex", path, 1, timeout)

    def read_write_lock(self, path: str, timeout: float | None = None) -> ReadWriteLock:
        return ReadWriteLock(self._c, path, timeout)

    def semaphore(self, path: str, leases: int, timeout: float | None = None) -> Lock:
        return Lock(self._c, "semaphore", path, leases, timeout)

    def counter(self, path: str, *, wide: bool = False, initial: int = 0) -> Counter:
        return Counter(self._c.counter(path, wide, initial))

    def pointer_store(self, root: str) -> PointerStore:
        return PointerStore(self._c.pointer_store(root))

    async def config_watch(self, root: str, timeout: float = 30.0) -> ConfigWatch:
        w = self._c.config_watch(root)
        return ConfigWatch(w, await w.ready(timeout, _loop()))

    def leader_watch(self, path: str) -> LeaderWatch:
        return LeaderWatch(self._c.leader_watch(path))

    def watch_data(self, path: str) -> NodeWatch[bytes]:
        """As :meth:`zkha.Client.watch_data`; ``async for v in w.values()``."""
        return NodeWatch(self._c.leader_watch(path), f"data of {path}")

    def watch_children(self, path: str) -> NodeWatch[list[str]]:
        """As :meth:`zkha.Client.watch_children`."""
        return NodeWatch(self._c.children_watch(path), f"children of {path}")


class Election:
    """A contender; ``async with`` leaves the election at the end; ``async for ev in e:``
    iterates granted/revoked events."""

    def __init__(self, native: _zkha.Election, client: _zkha.Client, path: str) -> None:
        self._e = native
        self._client = client
        self._path = path  # as given: latch_path() has the namespace applied

    async def contenders(self) -> list[Contender]:
        """Every contender of this election in queue order, the leader first (Curator's
        participants); ``participant_id`` names each."""
        return contenders(await self._client.contenders(self._path, _loop()))

    async def wait(self, timeout: float) -> Leadership:
        return Leadership(*(await self._e.wait(timeout, _loop())))

    @property
    def is_leader(self) -> bool:
        return self._e.is_leader()

    @property
    def leadership(self) -> Leadership | None:
        return leadership(self._e.leadership())

    @property
    def fencing_token(self) -> int | None:
        lead = self._e.leadership()
        return None if lead is None else lead[0]

    @property
    def participant_id(self) -> str:
        return self._e.participant_id()

    async def next_event(self, timeout: float | None = None) -> ElectionEvent | None:
        return election_event(await self._e.next_event(timeout, _loop()))

    def __aiter__(self) -> AsyncIterator[ElectionEvent]:
        return self.events()

    async def events(self, timeout: float | None = None) -> AsyncIterator[ElectionEvent]:
        while (ev := await self._e.next_event(timeout, _loop())) is not None:
            yield election_event(ev)  # type: ignore[misc]

    def fence(self) -> Fence:
        """The fence of the current grant (see :class:`zkha.Fence`)."""
        return Fence(self._e.fence())

    async def publish_leader_info(self, path: str, data: bytes) -> None:
        """Writes ``data`` at ``path`` as this leader's ephemeral node, fenced on the latch
        node (:class:`zkha.NotLeaderError` once the grant is gone; nothing is written)."""
        await self._e.publish_leader_info(path, _data(data), _loop())

    async def close(self, timeout: float | None = None) -> None:
        await self._e.close(timeout, _loop())

    async def __aenter__(self) -> Election:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


class Fence:
    """The asyncio twin of :class:`zkha.Fence`."""

    def __init__(self, native: _zkha.Fence) -> None:
        self._f = native

    @property
    def token(self) -> int:
        return self._f.token

    @property
    def node(self) -> str:
        return self._f.node

    @property
    def session_id(self) -> int:
        return self._f.session_id

    async def put(self, path: str, data: bytes) -> NodeStat:
        return NodeStat(*await self._f.put(path, _data(data), _loop()))

    async def delete(self, path: str, version: int | None = None) -> None:
        await self._f.delete(path, version, _loop())

    async def multi(self, ops: Sequence[Op]) -> list[OpResult]:
        results = await self._f.multi([op_tuple(o) for o in ops], _loop())
        return [op_result(r) for r in results]


class LockGuard:
    def __init__(self, native: _zkha.Guard) -> None:
        self._g = native

    @property
    def fencing_token(self) -> int:
        return self._g.fencing_token

    @property
    def node(self) -> str:
        return self._g.node

    @property
    def is_held(self) -> bool:
        return self._g.is_held()

    @property
    def lost_reason(self) -> Reason | None:
        """None while held; why the lock was lost once it is (see zkha.LockGuard)."""
        return self._g.lost_reason()

    async def wait_lost(self) -> Reason:
        return await self._g.lost(_loop())

    def fence(self) -> Fence:
        """The fence of this hold (see :class:`zkha.Fence`)."""
        return Fence(self._g.fence())

    async def release(self) -> None:
        await self._g.release(_loop())

    async def __aenter__(self) -> LockGuard:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.release()


class Lock:
    """``async with client.lock(path, timeout=5) as guard:`` or ``await lock.acquire()``.

    One ``Lock`` object may be shared by tasks: each ``async with`` holds its own guard, and
    leaving the block releases that one.
    """

    def __init__(
        self, client: _zkha.Client, kind: LockKind, path: str, leases: int, timeout: float | None
    ) -> None:
        self._c, self._kind, self.path, self._leases = client, kind, path, leases
        self.timeout = timeout
        self._held: _Holders[LockGuard] = _Holders()  # per task

    async def contenders(self) -> list[Contender]:
        """Every holder and waiter of this lock's path in queue order, holders first."""
        return contenders(await self._c.contenders(self.path, _loop()))

    async def acquire(self, timeout: float | None = None) -> LockGuard:
        t = self.timeout if timeout is None else timeout
        return LockGuard(await self._c.acquire(self._kind, self.path, self._leases, t, _loop()))

    async def __aenter__(self) -> LockGuard:
        return self._held.push(asyncio.current_task(), await self.acquire())

    async def __aexit__(self, *exc: object) -> None:
        held = self._held.pop(asyncio.current_task())
        if held is not None:
            await held.release()


class ReadWriteLock:
    def __init__(self, client: _zkha.Client, path: str, timeout: float | None) -> None:
        self.path = path
        self._c, self._timeout = client, timeout

    @property
    def read(self) -> Lock:
        return Lock(self._c, "read", self.path, 1, self._timeout)

    @property
    def write(self) -> Lock:
        return Lock(self._c, "write", self.path, 1, self._timeout)


class Counter:
    def __init__(self, native: _zkha.Counter) -> None:
        self._n = native

    async def get(self) -> tuple[int, int]:
        return await self._n.get(_loop())

    async def get_and_increment(self) -> int:
        return await self._n.get_and_increment(_loop())

    async def compare_and_set(self, expected_version: int, value: int) -> bool:
        return await self._n.compare_and_set(expected_version, value, _loop())

    async def set(self, value: int) -> None:
        await self._n.set(value, _loop())

    async def remove(self) -> None:
        await self._n.remove(_loop())


class PointerStore:
    def __init__(self, native: _zkha.PointerStore) -> None:
        self._n = native

    async def add_and_lock(self, name: str, data: bytes) -> int:
        return await self._n.add_and_lock(name, _data(data), _loop())

    async def replace(self, name: str, expected_version: int, data: bytes) -> int:
        return await self._n.replace(name, expected_version, _data(data), _loop())

    async def exists(self, name: str) -> int | None:
        return await self._n.exists(name, _loop())

    async def get_and_lock(self, name: str) -> Entry:
        return Entry(*(await self._n.get_and_lock(name, _loop())))

    async def get_all_and_lock(self) -> list[Entry]:
        return [Entry(*e) for e in await self._n.get_all_and_lock(_loop())]

    async def names(self) -> list[str]:
        return await self._n.get_all_handles(_loop())

    async def release(self, name: str) -> None:
        await self._n.release(name, _loop())

    async def release_and_try_remove(self, name: str) -> bool:
        return await self._n.release_and_try_remove(name, _loop())

    async def release_all(self) -> None:
        await self._n.release_all(_loop())


class ConfigWatch:
    """The asyncio twin of :class:`zkha.ConfigWatch` (``initial``, then ``changes()``)."""

    def __init__(self, native: _zkha.ConfigWatch, initial: dict[str, bytes]) -> None:
        self._n = native
        self.initial = initial

    def get(self, rel_path: str) -> bytes | None:
        return self._n.get(rel_path)

    def snapshot(self) -> dict[str, bytes]:
        return self._n.snapshot()

    async def next_change(self, timeout: float | None = None) -> ConfigChange | None:
        c = await self._n.next(timeout, _loop())
        return None if c is None else ConfigChange(*c)

    async def changes(self, timeout: float | None = None) -> AsyncIterator[ConfigChange]:
        while (c := await self.next_change(timeout)) is not None:
            yield c


V = TypeVar("V")


class _Native(Protocol[V]):
    def current(self) -> tuple[bool, V | None]: ...
    def next(
        self, timeout: float | None, aio: asyncio.AbstractEventLoop
    ) -> asyncio.Future[tuple[bool, V | None] | None]: ...


class NodeWatch(Generic[V]):
    """The asyncio twin of :class:`zkha.NodeWatch`: ``current``, ``await next_value()``,
    ``async for v in values()``."""

    def __init__(self, native: _Native[V], what: str) -> None:
        self._n = native
        self._what = what

    @property
    def current(self) -> V | None:
        return self._n.current()[1]

    async def next_value(self, timeout: float | None = None) -> V | None:
        v = await self._n.next(timeout, _loop())
        if v is None:
            raise _ZTimeout(f"no change of the {self._what} within {timeout} s")
        return v[1]

    async def values(self, timeout: float | None = None) -> AsyncIterator[V | None]:
        while (v := await self._n.next(timeout, _loop())) is not None:
            yield v[1]


class LeaderWatch:
    def __init__(self, native: _zkha.LeaderWatch) -> None:
        self._n = native

    @property
    def current(self) -> bytes | None:
        return self._n.current()[1]

    async def next_value(self, timeout: float | None = None) -> bytes | None:
        v = await self._n.next(timeout, _loop())
        if v is None:
            raise _ZTimeout(f"no leader information change within {timeout} s")
        return v[1]

    async def values(self, timeout: float | None = None) -> AsyncIterator[bytes | None]:
        while (v := await self._n.next(timeout, _loop())) is not None:
            yield v[1]

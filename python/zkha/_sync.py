"""The blocking API. Every call releases the GIL while it waits; Ctrl-C interrupts a blocking
acquire or wait (the core cancels it and removes any node it created)."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Iterator, Sequence
from types import TracebackType
from typing import Any, Generic, Protocol, TypeVar

from . import _security, _zkha
from ._security import Acl, Sasl, Tls
from ._support import _data, _Holders
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

V = TypeVar("V")
V_co = TypeVar("V_co", covariant=True)


class Client:
    """A ZooKeeper client: one session at a time, re-opened after expiry.

    Durations are in seconds. ``with Client(hosts) as c:`` closes the client at the end.

    Secured ensembles: ``tls`` (:class:`zkha.Tls`: CA, client certificate and key as PEM files
    or text), ``sasl`` (:class:`zkha.SaslDigestMd5` or :class:`zkha.SaslKerberos`), ``auth``
    (``addAuth`` credentials,
    ``"scheme:credential"`` such as ``"digest:user:password"``; one string or a list) and
    ``acl`` of created znodes (``"open"``, ``"creator"`` or a list of ``"scheme:id:perms"``).
    Misconfigurations raise :class:`zkha.ConfigError` or :class:`zkha.InvalidArgumentError`
    naming the cause (a plain client at a TLS port, an expired certificate with its date, a
    missing file with its path); a refused SASL login raises :class:`zkha.NoAuthError`
    naming the user. No secret appears in a repr or an error message.
    """

    def __init__(
        self,
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
        _native: Any = None,
    ) -> None:
        if _native is None:
            _native = _zkha.Client.connect(
                hosts,
                session_timeout,
                connection_timeout,
                namespace,
                lease_margin,
                strict,
                operation_timeout,
                **_security.native(tls, sasl, auth, acl),
                **native_options(retry, liveness, metrics),
            )
        self._c: _zkha.Client = _native
        self._threads: list[threading.Thread] = []
        self._watches: list[NodeWatch[Any]] = []

    @classmethod
    def from_flink_config(
        cls,
        path: str,
        *,
        tls: Tls | None = None,
        sasl: Sasl | None = None,
        auth: str | Sequence[str] | None = None,
        acl: Acl | None = None,
    ) -> Client:
        """Connects with the ZooKeeper settings of a Flink configuration file
        (``config.yaml`` or legacy ``flink-conf.yaml``), its security included as Flink's
        built-in HA reads it (ACL mode, authorization, the JAAS file's DigestLoginModule,
        ZooKeeper's TLS properties in ``env.java.opts.all``). Each security keyword given
        replaces the file's."""
        native = _zkha.Client.from_flink_config(str(path), **_security.native(tls, sasl, auth, acl))
        return cls("", _native=native)

    # -- lifecycle and state ----------------------------------------------------------------

    def close(self, timeout: float | None = None) -> None:
        """Closes the session: ephemeral nodes (leadership, locks) go away. Idempotent. Waits
        for the server's answer at most ``timeout`` seconds (default: the core's bound, 10 s);
        when disconnected the session then ends by expiry."""
        self._c.close(timeout)
        for t in self._threads:
            if t is not threading.current_thread():
                t.join(5)
        self._threads.clear()
        for w in list(self._watches):
            w.close()
        self._watches.clear()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def state(self) -> State:
        """connecting, connected, suspended, reconnected, lost, expired or closed."""
        return self._c.state()

    @property
    def session_id(self) -> int:
        return self._c.session_id()

    def metrics(self) -> dict[str, Any]:
        """The client's counters now (docs/metrics.md): ``grants``, ``revokes_by_reason``
        (``[[reason, count], ...]``), ``leading``, ``op_latency`` and the others."""
        result: dict[str, Any] = json.loads(self._c.metrics_json())
        return result

    @property
    def metrics_address(self) -> str | None:
        """``host:port`` of the client's metrics endpoint, if it serves one."""
        return self._c.metrics_address()

    @property
    def session_timeout(self) -> float | None:
        """The negotiated session timeout in seconds."""
        return self._c.session_timeout()

    @property
    def hosts(self) -> str:
        return self._c.connect_string()

    def states(self, timeout: float | None = None) -> Iterator[State]:
        """Iterates connection states as they happen, starting with the current one. Ends
        after ``closed``, or when no change comes within ``timeout`` seconds."""
        stream = self._c.state_events()
        while True:
            s = stream.next(timeout)
            if s is None:
                return
            yield s
            if s == "closed":
                return

    def on_state_change(self, callback: Callable[[str], object]) -> None:
        """Calls ``callback(state)`` on a zkha thread for every state change (the current state
        first) until the client is closed. Exceptions in the callback are logged."""
        stream = self._c.state_events()

        def pump() -> None:
            import logging

            while True:
                s = stream.next(None)
                if s is None:
                    return
                try:
                    callback(s)
                except Exception:  # a callback must not kill the pump
                    logging.getLogger("zkha").exception("state callback failed")
                if s == "closed":
                    return

        t = threading.Thread(target=pump, name="zkha-state-callback", daemon=True)
        t.start()
        self._threads.append(t)

    # -- plain znodes -----------------------------------------------------------------------

    def get(self, path: str) -> bytes | None:
        """The znode's data, or None if it does not exist."""
        return self._c.get_data(path)

    def children(self, path: str) -> list[str] | None:
        """The znode's children (sorted as ZooKeeper returns them), or None if it does not exist."""
        return self._c.get_children(path)

    def put(self, path: str, data: bytes) -> None:
        """Creates or overwrites a persistent znode (parents included)."""
        self._c.put(path, _data(data))

    def delete(self, path: str) -> None:
        """Deletes a znode and everything below it (no error if absent)."""
        self._c.delete_recursive(path)

    def create(self, path: str, data: bytes = b"", mode: NodeMode = "persistent") -> str:
        """Creates one znode (its parent must exist; :class:`zkha.NodeExistsError` if it
        exists) and returns its path (sequential modes add the suffix). Unfenced."""
        return self._c.create(path, _data(data), mode)[0]

    def stat(self, path: str) -> NodeStat | None:
        """The znode's stat, or None if it does not exist."""
        return node_stat(self._c.exists(path))

    def get_with_stat(self, path: str) -> tuple[bytes, NodeStat] | None:
        """The znode's data and stat, or None if it does not exist."""
        got = self._c.get_with_stat(path)
        return None if got is None else (got[0], NodeStat(*got[1]))

    def set(self, path: str, data: bytes, version: int | None = None) -> NodeStat:
        """Sets the znode's data if its version is ``version`` (None: any): the new stat.
        :class:`zkha.BadVersionError` if another write came first. Unfenced."""
        return NodeStat(*self._c.set_data(path, _data(data), version))

    def delete_node(self, path: str, version: int | None = None) -> None:
        """Deletes one znode if its version is ``version`` (None: any); NoNodeError,
        BadVersionError or NotEmptyError otherwise. Unfenced."""
        self._c.delete(path, version)

    # -- recipes ----------------------------------------------------------------------------

    def contenders(self, path: str) -> list[Contender]:
        """The contenders queued under an election's latch path or a lock's path, in queue
        order: the first leads or holds."""
        return contenders(self._c.contenders(path))

    def step_down(self, path: str, force: bool = False, timeout: float = 30.0) -> dict[str, Any]:
        """Makes the leader of the election on latch ``path`` hand over to its next contender
        without a restart, and waits up to ``timeout`` seconds until that one leads. Returns
        the report: ``leader``, ``successor``, ``new_leader``, ``released_ms``,
        ``new_leader_ms`` and the ``timeline`` ([{at_ms, what}]).

        Refused with :class:`zkha.InvalidArgumentError` (nothing written) when there is no
        standby, or when the leader or the next contender is not a zkha contender (Curator,
        Flink's built-in HA) unless ``force``; :class:`zkha.NoNodeError` with no contender."""
        report: dict[str, Any] = json.loads(self._c.step_down_json(path, force, timeout))
        return report

    def election(self, path: str, participant_id: str | None = None) -> Election:
        """Joins the leader election on latch ``path`` (Curator LeaderLatch compatible)."""
        return Election(self._c.election(path, participant_id or _default_id()), self._c, path)

    def lock(self, path: str, timeout: float | None = None) -> Lock:
        """An exclusive lock (Curator InterProcessMutex compatible)."""
        return Lock(self._c, "mutex", path, 1, timeout)

    def read_write_lock(self, path: str, timeout: float | None = None) -> ReadWriteLock:
        """A read-write lock (Curator InterProcessReadWriteLock compatible)."""
        return ReadWriteLock(self._c, path, timeout)

    def semaphore(self, path: str, leases: int, timeout: float | None = None) -> Lock:
        """A counting semaphore with ``leases`` holders at most."""
        return Lock(self._c, "semaphore", path, leases, timeout)

    def counter(self, path: str, *, wide: bool = False, initial: int = 0) -> Counter:
        """A shared counter; ``wide=False`` is Flink's 4-byte checkpoint-id counter format."""
        return Counter(self._c.counter(path, wide, initial))

    def pointer_store(self, root: str) -> PointerStore:
        """A store of small pointers with per-owner locks (Flink's StateHandleStore semantics)."""
        return PointerStore(self._c.pointer_store(root))

    def config_watch(self, root: str, timeout: float = 30.0) -> ConfigWatch:
        """Watches every value under ``root``; returns once the first complete read is in."""
        w = self._c.config_watch(root)
        return ConfigWatch(w, w.ready(timeout))

    def leader_watch(self, path: str) -> LeaderWatch:
        """Watches a leader-information znode (e.g. Flink's ``connection_info``)."""
        return LeaderWatch(self._c.leader_watch(path))

    def watch_data(
        self, path: str, on_change: Callable[[bytes | None], object] | None = None
    ) -> NodeWatch[bytes]:
        """Watches any znode's data: bytes, or None while it does not exist (or the
        connection is in doubt). ``on_change`` (optional) is called with every value, the
        current one first, on a thread of the watch, until :meth:`NodeWatch.close`."""
        return self._watch(NodeWatch(self._c.leader_watch(path), f"data of {path}", on_change))

    def watch_children(
        self, path: str, on_change: Callable[[list[str] | None], object] | None = None
    ) -> NodeWatch[list[str]]:
        """Watches any znode's children (sorted), or None while it does not exist; as
        :meth:`watch_data`."""
        return self._watch(
            NodeWatch(self._c.children_watch(path), f"children of {path}", on_change)
        )

    def _watch(self, w: NodeWatch[V]) -> NodeWatch[V]:
        """Keeps a watch with a callback thread, to stop that thread with the client; a watch
        without one ends when it is dropped."""
        if w._thread is not None:
            self._watches.append(w)
            w._owner = self._watches
        return w


def _default_id() -> str:
    import os
    import socket

    return f"{socket.gethostname()}-{os.getpid()}"


class Election:
    """A contender in a leader election. ``with client.election(p) as e:`` leaves at the end."""

    def __init__(self, native: _zkha.Election, client: _zkha.Client, path: str) -> None:
        self._e = native
        self._client = client
        self._path = path  # as given: latch_path() has the namespace applied

    def contenders(self) -> list[Contender]:
        """Every contender of this election in queue order, the leader first (Curator's
        participants); ``participant_id`` names each."""
        return contenders(self._client.contenders(self._path))

    def wait(self, timeout: float) -> Leadership:
        """Waits up to ``timeout`` seconds for leadership; raises :class:`zkha.TimeoutError`."""
        return Leadership(*self._e.wait(timeout))

    @property
    def is_leader(self) -> bool:
        """True while this contender holds a valid grant (within the lease)."""
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

    @property
    def path(self) -> str:
        return self._e.latch_path()

    @property
    def node(self) -> str | None:
        """This contender's latch node, once created."""
        return self._e.node()

    def next_event(self, timeout: float | None = None) -> ElectionEvent | None:
        """The next granted/revoked event, or None after ``timeout`` seconds."""
        return election_event(self._e.next_event(timeout))

    def fence(self) -> Fence:
        """The fence of the current grant, for writes that must not land once it is gone
        (:class:`zkha.NotLeaderError` without a grant)."""
        return Fence(self._e.fence())

    def events(self, timeout: float | None = None) -> Iterator[ElectionEvent]:
        """Iterates granted/revoked events; ends when none comes within ``timeout`` or the
        election is closed."""
        while True:
            ev = self._e.next_event(timeout)
            if ev is None:
                return
            yield election_event(ev)  # type: ignore[misc]

    def publish_leader_info(self, path: str, data: bytes) -> None:
        """Writes ``data`` at ``path`` as this leader's ephemeral node, fenced on the latch
        node: raises :class:`zkha.NotLeaderError` and writes nothing once the grant is gone
        (Flink's ``connection_info`` is written this way)."""
        self._e.publish_leader_info(path, _data(data))

    def close(self, timeout: float | None = None) -> None:
        """Leaves the election (deletes the latch node; leadership is revoked); waits at most
        ``timeout`` seconds (default: the core's bound)."""
        self._e.close(timeout)

    def __enter__(self) -> Election:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class Fence:
    """Proof of a grant (an election's or a lock's). A write through it is one ZooKeeper
    multi headed by a check of the holder's own node: it succeeds only while the grant
    holds, and raises :class:`zkha.NotLeaderError` (nothing written) once it is gone, even
    from a holder that does not know yet (paused, partitioned)."""

    def __init__(self, native: _zkha.Fence) -> None:
        self._f = native

    @property
    def token(self) -> int:
        """The grant's fencing token (the czxid of the holder's node)."""
        return self._f.token

    @property
    def node(self) -> str:
        """The holder's node that every write checks."""
        return self._f.node

    @property
    def session_id(self) -> int:
        return self._f.session_id

    def put(self, path: str, data: bytes) -> NodeStat:
        """Creates or overwrites ``path`` (missing parents are created first, unfenced)."""
        return NodeStat(*self._f.put(path, _data(data)))

    def delete(self, path: str, version: int | None = None) -> None:
        """Deletes ``path`` if its version is ``version`` (None: any)."""
        self._f.delete(path, version)

    def multi(self, ops: Sequence[Op]) -> list[OpResult]:
        """Runs ``ops`` atomically behind the fence check: all or none."""
        return [op_result(r) for r in self._f.multi([op_tuple(o) for o in ops])]


class LockGuard:
    """A held lock; release with :meth:`release` or by leaving its ``with`` block."""

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
        """None while held; why the lock was lost (lease_expired, session_expired,
        node_deleted, closed, suspended: disconnected in strict mode) once it is. Watching
        starts at the first read."""
        return self._g.lost_reason()

    def wait_lost(self) -> Reason:
        """Blocks until the lock is lost; returns why (lease_expired, session_expired,
        node_deleted, closed, suspended)."""
        return self._g.lost()

    def fence(self) -> Fence:
        """The fence of this hold, for writes that must not land once it is lost
        (:class:`zkha.ClosedError` once released)."""
        return Fence(self._g.fence())

    def release(self) -> None:
        """Releases the lock (idempotent)."""
        self._g.release()

    def __enter__(self) -> LockGuard:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


class Lock:
    """A lock or semaphore: ``with client.lock(path, timeout=5):`` or ``g = lock.acquire()``.

    One ``Lock`` object may be shared by threads: each ``with`` holds its own guard, and
    leaving the block releases that one (nested blocks of one thread leave in reverse order).
    """

    def __init__(
        self, client: _zkha.Client, kind: LockKind, path: str, leases: int, timeout: float | None
    ) -> None:
        self._c, self._kind, self.path, self._leases, self.timeout = (
            client,
            kind,
            path,
            leases,
            timeout,
        )
        self._held: _Holders[LockGuard] = _Holders()  # per thread

    def contenders(self) -> list[Contender]:
        """Every holder and waiter of this lock's path in queue order, holders first."""
        return contenders(self._c.contenders(self.path))

    def acquire(self, timeout: float | None = None) -> LockGuard:
        """Waits up to ``timeout`` seconds (None: the lock's default, else forever); raises
        :class:`zkha.TimeoutError` if not acquired."""
        t = self.timeout if timeout is None else timeout
        return LockGuard(self._c.acquire(self._kind, self.path, self._leases, t))

    def __enter__(self) -> LockGuard:
        return self._held.push(threading.get_ident(), self.acquire())

    def __exit__(
        self,
        et: type[BaseException] | None,
        ev: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        held = self._held.pop(threading.get_ident())
        if held is not None:
            held.release()


class ReadWriteLock:
    """Shared readers, one exclusive writer: ``with rw.read:`` / ``with rw.write:``."""

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
    """A shared counter with compare-and-set."""

    def __init__(self, native: _zkha.Counter) -> None:
        self._n = native

    @property
    def path(self) -> str:
        return self._n.path()

    def get(self) -> tuple[int, int]:
        """(value, version)"""
        return self._n.get()

    @property
    def value(self) -> int:
        return self._n.get()[0]

    def get_and_increment(self) -> int:
        """Atomically increments; returns the previous value."""
        return self._n.get_and_increment()

    def compare_and_set(self, expected_version: int, value: int) -> bool:
        return self._n.compare_and_set(expected_version, value)

    def set(self, value: int) -> None:
        self._n.set(value)

    def remove(self) -> None:
        self._n.remove()


class PointerStore:
    """Small pointers under a root with per-owner locks (Flink StateHandleStore semantics)."""

    def __init__(self, native: _zkha.PointerStore) -> None:
        self._n = native

    @property
    def root(self) -> str:
        return self._n.root()

    def add_and_lock(self, name: str, data: bytes) -> int:
        """Adds an entry and locks it for this owner; returns its version."""
        return self._n.add_and_lock(name, _data(data))

    def replace(self, name: str, expected_version: int, data: bytes) -> int:
        return self._n.replace(name, expected_version, _data(data))

    def exists(self, name: str) -> int | None:
        """The entry's version, or None."""
        return self._n.exists(name)

    def get_and_lock(self, name: str) -> Entry:
        return Entry(*self._n.get_and_lock(name))

    def get_all_and_lock(self) -> list[Entry]:
        return [Entry(*e) for e in self._n.get_all_and_lock()]

    def names(self) -> list[str]:
        return self._n.get_all_handles()

    def release(self, name: str) -> None:
        self._n.release(name)

    def release_and_try_remove(self, name: str) -> bool:
        """Releases this owner's lock and removes the entry if nobody else holds it."""
        return self._n.release_and_try_remove(name)

    def release_all(self) -> None:
        self._n.release_all()


class ConfigWatch:
    """A live view of every value under a root. ``initial`` is the view when the watch became
    ready, and :meth:`changes` yields every change after it: each change is in one of them,
    never in both (print ``initial``, then follow ``changes``)."""

    def __init__(self, native: _zkha.ConfigWatch, initial: dict[str, bytes]) -> None:
        self._n = native
        self.initial = initial

    def get(self, rel_path: str) -> bytes | None:
        return self._n.get(rel_path)

    def snapshot(self) -> dict[str, bytes]:
        return self._n.snapshot()

    def next_change(self, timeout: float | None = None) -> ConfigChange | None:
        c = self._n.next(timeout)
        return None if c is None else ConfigChange(*c)

    def changes(self, timeout: float | None = None) -> Iterator[ConfigChange]:
        """Iterates changes; ends when none comes within ``timeout``."""
        while (c := self.next_change(timeout)) is not None:
            yield c


_UNKNOWN: Any = object()


class _Native(Protocol[V_co]):
    def current(self) -> tuple[bool, V_co | None]: ...
    def next(self, timeout: float | None = None) -> tuple[bool, V_co | None] | None: ...


class NodeWatch(Generic[V]):
    """A live view of a znode's data or children (``client.watch_data`` /
    ``client.watch_children``): every change in order, without duplicates; None while the
    node does not exist. Iterate :meth:`values`, or give ``on_change`` a callback (not both:
    they share one stream, each change goes to one of them; an exception in the callback is
    logged to the ``zkha`` logger). Close it (or leave its ``with`` block) to stop the
    callback's thread."""

    def __init__(
        self, native: _Native[V], what: str, on_change: Callable[[V | None], object] | None
    ) -> None:
        self._n = native
        self._what = what
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._owner: list[NodeWatch[Any]] | None = None
        if on_change is not None:
            self._thread = threading.Thread(
                target=self._pump, args=(on_change,), name=f"zkha-watch {what}", daemon=True
            )
            self._thread.start()

    def _pump(self, callback: Callable[[V | None], object]) -> None:
        while not self._stop.is_set():
            v = self._n.next(0.1)
            if v is not None and not self._stop.is_set():
                try:
                    callback(v[1])
                except Exception:  # a failing callback must not end the watch
                    logging.getLogger("zkha").exception("zkha: on_change of the %s", self._what)

    @property
    def current(self) -> V | None:
        """The current value (None: the node does not exist, or not read yet)."""
        return self._n.current()[1]

    def next_value(self, timeout: float | None = None) -> V | None:
        """The next value; raises :class:`zkha.TimeoutError` when none comes in time."""
        from ._errors import TimeoutError as ZTimeout

        v = self._n.next(timeout)
        if v is None:
            raise ZTimeout(f"no change of the {self._what} within {timeout} s")
        return v[1]

    def values(self, timeout: float | None = None) -> Iterator[V | None]:
        """Iterates values (the current one first); ends when none comes within ``timeout``."""
        while (v := self._n.next(timeout)) is not None:
            yield v[1]

    def close(self) -> None:
        """Stops the ``on_change`` thread (waits for a call in progress); the watch itself ends
        once this object is dropped."""
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join()
        if self._owner is not None and self in self._owner:
            self._owner.remove(self)

    def __enter__(self) -> NodeWatch[V]:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class LeaderWatch:
    """A live view of a leader-information znode: bytes, or None when no leader publishes."""

    def __init__(self, native: _zkha.LeaderWatch) -> None:
        self._n = native

    @property
    def current(self) -> bytes | None:
        """The current value (None: no leader, or not read yet)."""
        return self._n.current()[1]

    def next_value(self, timeout: float | None = None) -> bytes | None:
        """The next value; raises :class:`zkha.TimeoutError` when none comes in time."""
        from ._errors import TimeoutError as ZTimeout

        v = self._n.next(timeout)
        if v is None:
            raise ZTimeout(f"no leader information change within {timeout} s")
        return v[1]

    def values(self, timeout: float | None = None) -> Iterator[bytes | None]:
        """Iterates values (the current one first); ends when none comes within ``timeout``."""
        while (v := self._n.next(timeout)) is not None:
            yield v[1]

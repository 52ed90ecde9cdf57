"""A read-only view of a Flink cluster's HA data in ZooKeeper: leaders, jobs, checkpoints and
checkpoint counters, as written by Flink's built-in ZooKeeper HA or by zkha's plugin (same
znodes and bytes). Byte formats are decoded by the core.

    with zkha.flink.Cluster.from_flink_config("conf/config.yaml") as cluster:
        print(cluster.leaders(), cluster.jobs())
"""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import asdict, dataclass
from typing import Any, TypeVar, cast

from . import _zkha
from ._errors import CorruptError, NoNodeError
from ._sync import Client

__all__ = [
    "COMPONENTS",
    "AsyncCluster",
    "Checkpoint",
    "Cluster",
    "Leader",
    "decode_state_handle",
]

COMPONENTS: tuple[str, ...] = tuple(_zkha.FlinkLayout.components())
"""The leader components Flink elects and publishes."""


@dataclass(frozen=True)
class Leader:
    """A published leader: the component's address (pekko RPC URL, or the REST URL for
    ``rest_server``) and the leader session id of its grant."""

    component: str
    address: str
    leader_session_id: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Checkpoint:
    """A completed checkpoint's pointer: the id, and the storage location of the
    ``completedCheckpoint`` metadata file as Flink wrote it."""

    id: int
    location: str | None
    state_size: int | None
    handle_class: str
    znode: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def decode_state_handle(data: bytes) -> tuple[str, str | None, int | None]:
    """(handle_class, file_path, state_size) of a checkpoint or execution-plan pointer;
    raises :class:`zkha.CorruptError` on other bytes."""
    return _zkha.decode_state_handle(bytes(data))


# The reads below are written once, as generators that yield ("get" | "children", path) and
# receive the answer; Cluster drives them with the sync client, AsyncCluster with zkha.aio.
T = TypeVar("T")
_Read = Generator[tuple[str, str], Any, T]


def _leader(layout: Any, component: str, path: str) -> _Read[Leader | None]:
    data = yield ("get", path)
    if not data:
        return None
    address, session = _zkha.decode_connection_info(data)
    return Leader(component, address, session)


def _leaders(layout: Any) -> _Read[dict[str, Leader | None]]:
    out = {}
    for c in COMPONENTS:
        out[c] = yield from _leader(layout, c, layout.connection_info(c))
    return out


def _jobs(layout: Any) -> _Read[list[str]]:
    return sorted((yield ("children", layout.execution_plans())) or [])


def _execution_plan(layout: Any, job_id: str) -> _Read[str | None]:
    data = yield ("get", f"{layout.execution_plans()}/{job_id}")
    return None if not data else decode_state_handle(data)[1]


def _checkpoints(layout: Any, job_id: str) -> _Read[list[Checkpoint]]:
    root = layout.checkpoints(job_id)
    out = []
    for name in (yield ("children", root)) or []:
        try:
            cid = int(name)
        except ValueError:
            continue  # not a checkpoint node
        data = yield ("get", f"{root}/{name}")
        if data is None:
            continue  # removed meanwhile (subsumed)
        cls, location, size = decode_state_handle(data)
        out.append(Checkpoint(cid, location, size, cls, f"{root}/{name}"))
    return sorted(out, key=lambda c: c.id)


def _latest(layout: Any, job_id: str) -> _Read[Checkpoint | None]:
    cps = yield from _checkpoints(layout, job_id)
    return cps[-1] if cps else None


def _counter(layout: Any, job_id: str) -> _Read[int | None]:
    data = yield ("get", layout.checkpoint_id_counter(job_id))
    return None if data is None else _zkha.decode_counter(data)


def _status(layout: Any) -> _Read[dict[str, Any]]:
    jobs = {}
    for j in (yield from _jobs(layout)):
        err = None
        try:
            latest = yield from _latest(layout, j)
        except (CorruptError, NoNodeError) as e:
            latest, err = None, str(e)
        jobs[j] = {
            "leader": _d((yield from _leader(layout, f"job-{j}", layout.job_connection_info(j)))),
            "latest_checkpoint": _d(latest),
            "checkpoint_counter": (yield from _counter(layout, j)),
            **({"error": err} if err else {}),
        }
    leaders = yield from _leaders(layout)
    return {
        "root": layout.root(),
        "leaders": {c: _d(lead) for c, lead in leaders.items()},
        "jobs": jobs,
    }


class Cluster:
    """One Flink cluster's HA data under ``root`` (``<path.root>/<cluster-id>``, default
    ``/flink/default``)."""

    def __init__(self, client: Client, root: str = "/flink/default") -> None:
        self.client = client
        self.layout = _zkha.FlinkLayout(root)
        self._owned = False

    @classmethod
    def from_flink_config(cls, path: str, **security: Any) -> Cluster:
        """Connects with the config file's ZooKeeper settings (its security included; keywords
        ``tls``, ``sasl``, ``auth``, ``acl`` replace the file's, as for
        :meth:`zkha.Client.from_flink_config`) and uses its cluster root; the client is closed
        with the cluster."""
        _, root = _zkha.flink_config_layout(str(path))
        c = cls(Client.from_flink_config(path, **security), root)
        c._owned = True
        return c

    @property
    def root(self) -> str:
        return self.layout.root()

    def close(self) -> None:
        if self._owned:
            self.client.close()

    def __enter__(self) -> Cluster:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _run(self, gen: _Read[T]) -> T:
        try:
            op, path = next(gen)
            while True:
                answer = self.client.get(path) if op == "get" else self.client.children(path)
                op, path = gen.send(answer)
        except StopIteration as done:
            return cast(T, done.value)  # what the _Read[T] returned

    def leaders(self) -> dict[str, Leader | None]:
        """The published leader of every component (None: no leader published)."""
        return self._run(_leaders(self.layout))

    def job_leader(self, job_id: str) -> Leader | None:
        """The JobMaster leader of one job (``leader/job-<id>/connection_info``)."""
        return self._run(
            _leader(self.layout, f"job-{job_id}", self.layout.job_connection_info(job_id))
        )

    def jobs(self) -> list[str]:
        """Ids of the jobs with a stored execution plan (submitted, not yet globally
        terminated)."""
        return self._run(_jobs(self.layout))

    def execution_plan(self, job_id: str) -> str | None:
        """The storage location of a job's submitted execution plan."""
        return self._run(_execution_plan(self.layout, job_id))

    def checkpoints(self, job_id: str) -> list[Checkpoint]:
        """The job's retained completed checkpoints, oldest first."""
        return self._run(_checkpoints(self.layout, job_id))

    def latest_checkpoint(self, job_id: str) -> Checkpoint | None:
        return self._run(_latest(self.layout, job_id))

    def checkpoint_counter(self, job_id: str) -> int | None:
        """The job's checkpoint-id counter (the next checkpoint id), or None if absent."""
        return self._run(_counter(self.layout, job_id))

    def status(self) -> dict[str, Any]:
        """Leaders, jobs and each job's latest checkpoint and counter, as plain data."""
        return self._run(_status(self.layout))


class AsyncCluster:
    """:class:`Cluster` on a :mod:`zkha.aio` client: the same methods, awaitable."""

    def __init__(self, client: Any, root: str = "/flink/default") -> None:
        self.client = client
        self.layout = _zkha.FlinkLayout(root)

    @property
    def root(self) -> str:
        return self.layout.root()

    async def _run(self, gen: _Read[T]) -> T:
        try:
            op, path = next(gen)
            while True:
                if op == "get":
                    answer = await self.client.get(path)
                else:
                    answer = await self.client.children(path)
                op, path = gen.send(answer)
        except StopIteration as done:
            return cast(T, done.value)  # what the _Read[T] returned

    async def leaders(self) -> dict[str, Leader | None]:
        return await self._run(_leaders(self.layout))

    async def job_leader(self, job_id: str) -> Leader | None:
        return await self._run(
            _leader(self.layout, f"job-{job_id}", self.layout.job_connection_info(job_id))
        )

    async def jobs(self) -> list[str]:
        return await self._run(_jobs(self.layout))

    async def execution_plan(self, job_id: str) -> str | None:
        return await self._run(_execution_plan(self.layout, job_id))

    async def checkpoints(self, job_id: str) -> list[Checkpoint]:
        return await self._run(_checkpoints(self.layout, job_id))

    async def latest_checkpoint(self, job_id: str) -> Checkpoint | None:
        return await self._run(_latest(self.layout, job_id))

    async def checkpoint_counter(self, job_id: str) -> int | None:
        return await self._run(_counter(self.layout, job_id))

    async def status(self) -> dict[str, Any]:
        return await self._run(_status(self.layout))


def _d(x: Leader | Checkpoint | None) -> dict[str, Any] | None:
    return None if x is None else x.to_dict()

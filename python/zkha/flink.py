"""A read-only view of a Flink cluster's HA data in ZooKeeper: leaders, jobs, checkpoints and
checkpoint counters, as written by Flink's built-in ZooKeeper HA or by zkha's plugin (same
znodes and bytes). Byte formats are decoded by the core.

    with zkha.flink.Cluster.from_flink_config("conf/config.yaml") as cluster:
        print(cluster.leaders(), cluster.jobs())
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from . import _zkha
from ._errors import CorruptError, NoNodeError
from ._sync import Client

__all__ = ["COMPONENTS", "Checkpoint", "Cluster", "Leader", "decode_state_handle"]

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


class Cluster:
    """One Flink cluster's HA data under ``root`` (``<path.root>/<cluster-id>``, default
    ``/flink/default``)."""

    def __init__(self, client: Client, root: str = "/flink/default") -> None:
        self.client = client
        self.layout = _zkha.FlinkLayout(root)
        self._owned = False

    @classmethod
    def from_flink_config(cls, path: str) -> Cluster:
        """Connects with the config file's ZooKeeper settings and uses its cluster root; the
        client is closed with the cluster."""
        _, root = _zkha.flink_config_layout(str(path))
        c = cls(Client.from_flink_config(path), root)
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

    def _leader(self, component: str, path: str) -> Leader | None:
        data = self.client.get(path)
        if not data:
            return None
        address, session = _zkha.decode_connection_info(data)
        return Leader(component, address, session)

    def leaders(self) -> dict[str, Leader | None]:
        """The published leader of every component (None: no leader published)."""
        return {c: self._leader(c, self.layout.connection_info(c)) for c in COMPONENTS}

    def job_leader(self, job_id: str) -> Leader | None:
        """The JobMaster leader of one job (``leader/job-<id>/connection_info``)."""
        return self._leader(f"job-{job_id}", self.layout.job_connection_info(job_id))

    def jobs(self) -> list[str]:
        """Ids of the jobs with a stored execution plan (submitted, not yet globally
        terminated)."""
        return sorted(self.client.children(self.layout.execution_plans()) or [])

    def execution_plan(self, job_id: str) -> str | None:
        """The storage location of a job's submitted execution plan."""
        data = self.client.get(f"{self.layout.execution_plans()}/{job_id}")
        return None if not data else decode_state_handle(data)[1]

    def checkpoints(self, job_id: str) -> list[Checkpoint]:
        """The job's retained completed checkpoints, oldest first."""
        root = self.layout.checkpoints(job_id)
        out = []
        for name in self.client.children(root) or []:
            try:
                cid = int(name)
            except ValueError:
                continue  # not a checkpoint node
            data = self.client.get(f"{root}/{name}")
            if data is None:
                continue  # removed meanwhile (subsumed)
            cls, location, size = decode_state_handle(data)
            out.append(Checkpoint(cid, location, size, cls, f"{root}/{name}"))
        return sorted(out, key=lambda c: c.id)

    def latest_checkpoint(self, job_id: str) -> Checkpoint | None:
        cps = self.checkpoints(job_id)
        return cps[-1] if cps else None

    def checkpoint_counter(self, job_id: str) -> int | None:
        """The job's checkpoint-id counter (the next checkpoint id), or None if absent."""
        data = self.client.get(self.layout.checkpoint_id_counter(job_id))
        if data is None:
            return None
        return _zkha.decode_counter(data)

    def status(self) -> dict[str, Any]:
        """Leaders, jobs and each job's latest checkpoint and counter, as plain data."""
        jobs = {}
        for j in self.jobs():
            try:
                latest = self.latest_checkpoint(j)
            except (CorruptError, NoNodeError) as e:
                latest, err = None, str(e)
            else:
                err = None
            jobs[j] = {
                "leader": _d(self.job_leader(j)),
                "latest_checkpoint": _d(latest),
                "checkpoint_counter": self.checkpoint_counter(j),
                **({"error": err} if err else {}),
            }
        return {
            "root": self.root,
            "leaders": {c: _d(lead) for c, lead in self.leaders().items()},
            "jobs": jobs,
        }


def _d(x: Leader | Checkpoint | None) -> dict[str, Any] | None:
    return None if x is None else x.to_dict()

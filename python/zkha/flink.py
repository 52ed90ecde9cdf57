"""A read-only view of a Flink cluster's HA data in ZooKeeper: leaders, jobs, checkpoints and
checkpoint counters, as written by Flink's built-in ZooKeeper HA or by zkha's plugin (same
znodes and bytes). Byte formats are decoded by the core.

    with zkha.flink.Cluster.from_flink_config("conf/config.yaml") as cluster:
        print(cluster.leaders(), cluster.jobs())
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from . import _zkha
from ._sync import Client

__all__ = [
    "COMPONENTS",
    "DEFAULT_SECRET_MARKERS",
    "AsyncCluster",
    "AsyncConfigStore",
    "Checkpoint",
    "Cluster",
    "ConfigStore",
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


def _leader(row: tuple[str, str, str] | None) -> Leader | None:
    return None if row is None else Leader(*row)


def _checkpoint(row: tuple[int, str | None, int | None, str, str] | None) -> Checkpoint | None:
    return None if row is None else Checkpoint(*row)


class Cluster:
    """One Flink cluster's HA data under ``root`` (``<path.root>/<cluster-id>``, default
    ``/flink/default``). The reads are core's (``zkha::flink::ClusterView``), the ones C's
    ``zkha_flink_status`` makes."""

    def __init__(self, client: Client, root: str = "/flink/default") -> None:
        self.client = client
        self.layout = _zkha.FlinkLayout(root)
        self._view = _zkha.FlinkView(client._c, root)
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

    def leaders(self) -> dict[str, Leader | None]:
        """The published leader of every component (None: no leader published)."""
        return {c: _leader(row) for c, row in self._view.leaders()}

    def job_leader(self, job_id: str) -> Leader | None:
        """The JobMaster leader of one job (``leader/job-<id>/connection_info``)."""
        return _leader(self._view.job_leader(job_id))

    def jobs(self) -> list[str]:
        """Ids of the jobs with a stored execution plan (submitted, not yet globally
        terminated)."""
        return self._view.jobs()

    def execution_plan(self, job_id: str) -> str | None:
        """The storage location of a job's submitted execution plan."""
        return self._view.execution_plan(job_id)

    def checkpoints(self, job_id: str) -> list[Checkpoint]:
        """The job's retained completed checkpoints, oldest first."""
        return [Checkpoint(*row) for row in self._view.checkpoints(job_id)]

    def latest_checkpoint(self, job_id: str) -> Checkpoint | None:
        return _checkpoint(self._view.latest_checkpoint(job_id))

    def checkpoint_counter(self, job_id: str) -> int | None:
        """The job's checkpoint-id counter (the next checkpoint id), or None if absent."""
        return self._view.checkpoint_counter(job_id)

    def status(self) -> dict[str, Any]:
        """Leaders, jobs and each job's latest checkpoint and counter, as plain data."""
        status: dict[str, Any] = json.loads(self._view.status_json())
        return status

    def step_down(self, force: bool = False, timeout: float = 30.0) -> dict[str, Any]:
        """Makes the leading JobManager hand over to a standby without a restart and waits
        (up to ``timeout`` seconds) until the standby leads (first in the queue), then for
        its REST address (a timeline line says so if it did not come in time) and the old
        leader's rejoin; the report with its ``timeline`` (see :meth:`zkha.Client.step_down`).
        Refused without a standby, or when the leader or the next contender is a Flink
        built-in HA JobManager, unless ``force``."""
        report: dict[str, Any] = json.loads(self._view.step_down_json(force, timeout))
        return report


DEFAULT_SECRET_MARKERS: tuple[str, ...] = tuple(_zkha.ConfigStore.default_secret_markers())
"""Parts of key names whose values a push refuses in clear unless told otherwise."""


def _markers(markers: Sequence[str] | str | None) -> list[str] | None:
    """Secret markers as core takes them: a comma-separated string or a sequence."""
    if markers is None:
        return None
    if isinstance(markers, str):
        return _zkha.ConfigStore.parse_secret_markers(markers)
    return [str(m) for m in markers]


def _author() -> str:
    import getpass
    import socket

    try:
        user = getpass.getuser()
    except Exception:  # no user name in this environment
        user = "unknown"
    return f"{user}@{socket.gethostname()}"


class ConfigStore:
    """A Flink cluster's central configuration in ZooKeeper: one versioned document (the base
    ``config.yaml`` or ``flink-conf.yaml``, ``role:jobmanager`` / ``role:taskmanager`` and
    ``host:<name>`` overlays), written compare-and-set, the last versions kept
    (docs/central-config.md). Parts are named ``"base"``, ``"role:<role>"``, ``"host:<host>"``.
    Bad input raises :class:`zkha.ConfigError` (or ``TooLargeError``) before anything is
    written; a lost race :class:`zkha.BadVersionError` naming the version that won."""

    def __init__(self, client: Client, path: str, keep: int = 20) -> None:
        self.client = client
        self.path = path
        self._store = _zkha.ConfigStore(client._c, path, keep)
        self._owned = False

    @classmethod
    def from_flink_config(cls, path: str, **security: Any) -> ConfigStore:
        """The store of the cluster a Flink configuration names
        (``<path.root>/zkha-config/<cluster-id>``), connected with its ZooKeeper settings (as
        :meth:`Cluster.from_flink_config`); the client is closed with the store."""
        store = cls(
            Client.from_flink_config(path, **security),
            _zkha.ConfigStore.path_of_flink_config(str(path)),
        )
        store._owned = True
        return store

    def close(self) -> None:
        if self._owned:
            self.client.close()

    def __enter__(self) -> ConfigStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def current(self) -> dict[str, Any] | None:
        """The current document (``version``, ``author``, ``time_ms``, ``note``, ``changed``,
        ``format``, ``base``, ``roles``, ``hosts``), or None before the first push."""
        doc = self._store.current_json()
        return None if doc is None else dict(json.loads(doc))

    def version(self, version: int) -> dict[str, Any] | None:
        """The document of a kept ``version``."""
        doc = self._store.version_json(version)
        return None if doc is None else dict(json.loads(doc))

    def history(self) -> list[dict[str, Any]]:
        """The kept versions, newest first (``version``, ``author``, ``time_ms``, ``note``,
        ``changed``)."""
        return list(json.loads(self._store.history_json()))

    def preview(
        self,
        part: str,
        text: str,
        file_name: str = "config.yaml",
        allow_secrets: bool = False,
        secret_markers: Sequence[str] | None = None,
    ) -> list[dict[str, Any]]:
        """Checks ``text`` as ``part`` and returns the keys it would change (``key``,
        ``before``, ``after``); writes nothing."""
        markers = _markers(secret_markers)
        return list(
            json.loads(self._store.preview_json(part, text, file_name, allow_secrets, markers))
        )

    def push(
        self,
        part: str,
        text: str,
        note: str,
        file_name: str = "config.yaml",
        author: str | None = None,
        allow_secrets: bool = False,
        expected: int | None = None,
        secret_markers: Sequence[str] | None = None,
    ) -> dict[str, Any]:
        """Stores ``text`` as ``part``, a new version (only if the current version is
        ``expected``, when given); returns the new document. A value in clear of a key whose
        name holds one of ``secret_markers`` (a list or a comma-separated string; default
        :data:`DEFAULT_SECRET_MARKERS`) is refused unless ``allow_secrets``."""
        who, markers = author or _author(), _markers(secret_markers)
        doc = self._store.push_json(
            part, text, file_name, who, note, allow_secrets, expected, markers
        )
        return dict(json.loads(doc))

    def rollback(
        self, version: int, note: str, author: str | None = None, expected: int | None = None
    ) -> dict[str, Any]:
        """Makes a kept ``version`` current again, byte for byte, as a new version."""
        return dict(
            json.loads(self._store.rollback_json(version, author or _author(), note, expected))
        )

    def remove_overlay(
        self, part: str, note: str, author: str | None = None, expected: int | None = None
    ) -> dict[str, Any]:
        """Removes a role or host overlay (a new version)."""
        doc = self._store.remove_overlay_json(part, author or _author(), note, expected)
        return dict(json.loads(doc))

    def pull(
        self, role: str | None = None, host: str | None = None, file_name: str = "config.yaml"
    ) -> tuple[int, str]:
        """(version, file text): the effective configuration of ``role`` on ``host``,
        references (``${env:NAME}``, ``${file:/path}``) resolved on this host, as
        ``config.yaml`` (or the legacy ``flink-conf.yaml``)."""
        version, text = self._store.pull(role, host, file_name)
        return int(version), str(text)

    def diff(
        self, from_version: int, to_version: int, role: str | None = None, host: str | None = None
    ) -> list[dict[str, Any]]:
        """The effective key changes of ``role`` on ``host`` between two kept versions
        (``from_version`` 0: from nothing); secrets in clear masked."""
        return list(json.loads(self._store.diff_json(from_version, to_version, role, host)))

    def status(self) -> list[dict[str, Any]]:
        """Processes started from a pulled configuration: ``role``, ``host``, ``pid``,
        ``version``, ``stale`` and the keys that ``differs`` from the current version."""
        return list(json.loads(self._store.status_json()))


class AsyncConfigStore:
    """:class:`ConfigStore` on a :mod:`zkha.aio` client: the same methods, awaitable."""

    def __init__(self, client: Any, path: str, keep: int = 20) -> None:
        self.client = client
        self.path = path
        self._store = _zkha.ConfigStore(client._c, path, keep)

    @staticmethod
    def path_of_flink_config(path: str) -> str:
        """The store path of the cluster a Flink configuration file names."""
        return _zkha.ConfigStore.path_of_flink_config(str(path))

    async def current(self) -> dict[str, Any] | None:
        doc = await self._store.current_json(_loop())
        return None if doc is None else dict(json.loads(doc))

    async def version(self, version: int) -> dict[str, Any] | None:
        doc = await self._store.version_json(version, _loop())
        return None if doc is None else dict(json.loads(doc))

    async def history(self) -> list[dict[str, Any]]:
        return list(json.loads(await self._store.history_json(_loop())))

    async def push(
        self,
        part: str,
        text: str,
        note: str,
        file_name: str = "config.yaml",
        author: str | None = None,
        allow_secrets: bool = False,
        expected: int | None = None,
        secret_markers: Sequence[str] | None = None,
    ) -> dict[str, Any]:
        who, markers = author or _author(), _markers(secret_markers)
        args = (part, text, file_name, who, note, allow_secrets, expected, markers)
        doc = await self._store.push_json(*args, _loop())
        return dict(json.loads(doc))

    async def rollback(
        self, version: int, note: str, author: str | None = None, expected: int | None = None
    ) -> dict[str, Any]:
        doc = await self._store.rollback_json(version, author or _author(), note, expected, _loop())
        return dict(json.loads(doc))

    async def preview(
        self,
        part: str,
        text: str,
        file_name: str = "config.yaml",
        allow_secrets: bool = False,
        secret_markers: Sequence[str] | None = None,
    ) -> list[dict[str, Any]]:
        markers = _markers(secret_markers)
        changes = await self._store.preview_json(
            part, text, file_name, allow_secrets, markers, _loop()
        )
        return list(json.loads(changes))

    async def remove_overlay(
        self, part: str, note: str, author: str | None = None, expected: int | None = None
    ) -> dict[str, Any]:
        who = author or _author()
        doc = await self._store.remove_overlay_json(part, who, note, expected, _loop())
        return dict(json.loads(doc))

    async def pull(
        self, role: str | None = None, host: str | None = None, file_name: str = "config.yaml"
    ) -> tuple[int, str]:
        version, text = await self._store.pull(role, host, file_name, _loop())
        return int(version), str(text)

    async def diff(
        self, from_version: int, to_version: int, role: str | None = None, host: str | None = None
    ) -> list[dict[str, Any]]:
        changes = await self._store.diff_json(from_version, to_version, role, host, _loop())
        return list(json.loads(changes))

    async def status(self) -> list[dict[str, Any]]:
        return list(json.loads(await self._store.status_json(_loop())))


class AsyncCluster:
    """:class:`Cluster` on a :mod:`zkha.aio` client: the same methods, awaitable."""

    def __init__(self, client: Any, root: str = "/flink/default") -> None:
        self.client = client
        self.layout = _zkha.FlinkLayout(root)
        self._view = _zkha.FlinkView(client._c, root)

    @property
    def root(self) -> str:
        return self.layout.root()

    async def leaders(self) -> dict[str, Leader | None]:
        return {c: _leader(row) for c, row in await self._view.leaders(_loop())}

    async def job_leader(self, job_id: str) -> Leader | None:
        return _leader(await self._view.job_leader(job_id, _loop()))

    async def jobs(self) -> list[str]:
        return await self._view.jobs(_loop())

    async def execution_plan(self, job_id: str) -> str | None:
        return await self._view.execution_plan(job_id, _loop())

    async def checkpoints(self, job_id: str) -> list[Checkpoint]:
        return [Checkpoint(*row) for row in await self._view.checkpoints(job_id, _loop())]

    async def latest_checkpoint(self, job_id: str) -> Checkpoint | None:
        return _checkpoint(await self._view.latest_checkpoint(job_id, _loop()))

    async def checkpoint_counter(self, job_id: str) -> int | None:
        return await self._view.checkpoint_counter(job_id, _loop())

    async def status(self) -> dict[str, Any]:
        status: dict[str, Any] = json.loads(await self._view.status_json(_loop()))
        return status

    async def step_down(self, force: bool = False, timeout: float = 30.0) -> dict[str, Any]:
        report: dict[str, Any] = json.loads(
            await self._view.step_down_json(force, timeout, _loop())
        )
        return report


def _loop() -> asyncio.AbstractEventLoop:
    return asyncio.get_running_loop()

"""pytest fixtures: one real ZooKeeper ensemble per session, started with the test kit CLI
(``target/debug/zkha-testkit``) and owned by the pytest process."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

import zkha

# A background job of a non-interactive shell (`make test &`, nohup) starts with SIGINT
# ignored: Python then installs no KeyboardInterrupt handler, and the children it spawns
# inherit the ignored SIGINT. The Ctrl-C tests need what an interactive run has.
signal.signal(signal.SIGINT, signal.default_int_handler)

ROOT = Path(__file__).resolve().parents[2]
TESTKIT = Path(os.environ.get("ZKHA_TESTKIT", ROOT / "target" / "debug" / "zkha-testkit"))


def testkit(*args: str) -> str:
    r = subprocess.run([str(TESTKIT), *args], capture_output=True, text=True, timeout=120)
    if r.returncode != 0:
        raise RuntimeError(f"zkha-testkit {' '.join(args)} failed: {r.stderr.strip()}")
    return r.stdout


class Ensemble:
    def __init__(self, nodes: int, *options: str) -> None:
        """``options``: the kit's, e.g. ``--tls`` or ``--sasl-digest zkha:secret``."""
        out = json.loads(
            testkit(
                "ensemble",
                "start",
                "--nodes",
                str(nodes),
                *options,
                "--json",
                "--owner-pid",
                str(os.getpid()),
            )
        )
        self.handle: str = out["handle"]
        self.hosts: str = out["connect_string"]
        self.info = out

    def kill(self, node: int) -> None:
        testkit("node", self.handle, "kill", str(node))

    def restart(self, node: int) -> None:
        testkit("node", self.handle, "restart", str(node))

    def proxy(self) -> Proxy:
        return Proxy(self, json.loads(testkit("proxy", self.handle, "start", "--json")))

    def stop(self) -> None:
        testkit("ensemble", "stop", self.handle)


class Proxy:
    def __init__(self, ens: Ensemble, info: dict) -> None:
        self.ens, self.id, self.hosts = ens, str(info["proxy"]), info["connect_string"]

    def blackhole(self) -> None:
        testkit("proxy", self.ens.handle, "blackhole", self.id)

    def cut(self) -> None:
        testkit("proxy", self.ens.handle, "cut", self.id)

    def heal(self) -> None:
        testkit("proxy", self.ens.handle, "heal", self.id)


@pytest.fixture(scope="session")
def ensemble() -> Iterator[Ensemble]:
    if not TESTKIT.exists():
        pytest.fail(f"{TESTKIT} missing: run 'cargo build -p zkha-testkit' (make test-python does)")
    # With ZooKeeper's Prometheus metrics provider, which the dashboard test scrapes.
    ens = Ensemble(3, "--prometheus")
    try:
        yield ens
    finally:
        ens.stop()


@pytest.fixture(scope="session")
def tls_ensemble() -> Iterator[Ensemble]:
    """One TLS-only server that needs a client certificate (``info["tls"]``: the kit's PEM
    files), shared by every test of the session that asks for it."""
    ens = Ensemble(1, "--tls")
    try:
        yield ens
    finally:
        ens.stop()


@pytest.fixture(scope="session")
def digest_ensemble() -> Iterator[Ensemble]:
    """One server that requires SASL DIGEST-MD5, users ``zkha:secret`` and ``other:pw2``."""
    ens = Ensemble(1, "--sasl-digest", "zkha:secret,other:pw2")
    try:
        yield ens
    finally:
        ens.stop()


@pytest.fixture(scope="session")
def kerberos_ensemble() -> Iterator[Ensemble]:
    """One server that requires SASL Kerberos, with the kit's KDC (``info["kerberos"]``:
    krb5.conf, and keytabs of the clients ``zkha`` and ``other``)."""
    ens = Ensemble(1, "--kerberos")
    try:
        yield ens
    finally:
        ens.stop()


@pytest.fixture
def hosts(ensemble: Ensemble) -> str:
    return ensemble.hosts


@pytest.fixture
def client(hosts: str) -> Iterator[zkha.Client]:
    with zkha.Client(hosts, session_timeout=6) as c:
        yield c


@pytest.fixture
def path() -> str:
    """A fresh znode path per test."""
    return f"/pytest/{uuid.uuid4().hex[:12]}"


@pytest.fixture(autouse=True)
def no_leftovers() -> Iterator[None]:
    """No Python thread or child process is left behind by a test."""
    before = set(threading.enumerate())
    yield
    # Dummy threads are zkha's native threads seen by Python once they attach (the log
    # forwarder, the asyncio completer pool): process-wide, not per test.
    extra = [
        t
        for t in threading.enumerate()
        if t not in before and t.is_alive() and not isinstance(t, threading._DummyThread)
    ]
    for t in extra:
        t.join(5)
    extra = [t.name for t in extra if t.is_alive()]
    assert not extra, f"threads left behind: {extra}"
    children = _children(os.getpid())
    # the test kit's ensemble supervisor is started by the session fixture, not by a test
    assert not [c for c in children if "zkha-testkit" not in c], (
        f"processes left behind: {children}"
    )


def _children(pid: int) -> list[str]:
    out = []
    try:
        for tid in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{tid}/children") as f:
                for c in f.read().split():
                    try:
                        with open(f"/proc/{c}/cmdline", "rb") as cf:
                            cmd = cf.read().replace(b"\0", b" ").decode(errors="replace")
                    except OSError:
                        continue
                    out.append(f"{c}: {cmd}")
    except OSError:
        pass
    return out


PY = sys.executable

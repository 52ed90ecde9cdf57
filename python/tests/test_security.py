"""Secured ensembles from Python (sync and asyncio) and the CLI: a TLS-only server that needs a
client certificate and a server that requires SASL DIGEST-MD5, one each per session (the test
kit's). The same work as on a plain ensemble, a creator ACL that keeps another identity out,
and a clear error for each misconfiguration, never with a secret in it."""

from __future__ import annotations

import json
import os
import signal
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from conftest import Ensemble
from test_cli import read_event, spawn, zkha_cli

import zkha
import zkha.aio

ZKHA = zkha.SaslDigestMd5("zkha", "secret")
OTHER = zkha.SaslDigestMd5("other", "pw2")


@pytest.fixture
def path() -> str:
    """A fresh top-level path: nodes made under a creator ACL admit no other identity below."""
    return f"/sec-{uuid.uuid4().hex[:12]}"


def tls_files(ens: Ensemble) -> dict[str, str]:
    return ens.info["tls"]


def tls_of(ens: Ensemble) -> zkha.Tls:
    f = tls_files(ens)
    return zkha.Tls(f["ca_cert"], f["client_cert"], f["client_key"])


def work(c: zkha.Client, path: str) -> None:
    """Elects, writes fenced, locks; a fenced write after leaving writes nothing."""
    e = c.election(f"{path}/latch", "a")
    lead = e.wait(20)
    e.publish_leader_info(f"{path}/leader", b"me")
    assert c.get(f"{path}/leader") == b"me"
    with c.lock(f"{path}/lock", timeout=20) as g:
        assert g.is_held and g.fencing_token > lead.fencing_token
    e.close()
    with pytest.raises(zkha.NotLeaderError):
        e.publish_leader_info(f"{path}/leader2", b"stale")
    assert c.get(f"{path}/leader2") is None


async def work_async(c: zkha.aio.Client, path: str) -> None:
    async with c.election(f"{path}/latch", "a") as e:
        lead = await e.wait(20)
        await e.publish_leader_info(f"{path}/leader", b"me")
        assert await c.get(f"{path}/leader") == b"me"
        async with c.lock(f"{path}/lock", timeout=20) as g:
            assert g.is_held and g.fencing_token > lead.fencing_token
    with pytest.raises(zkha.NotLeaderError):
        await e.publish_leader_info(f"{path}/leader2", b"stale")


def refused(hosts: str, **options: object) -> tuple[zkha.ZkhaError, float]:
    t0 = time.monotonic()
    with pytest.raises(zkha.ZkhaError) as info:
        zkha.Client(hosts, 4, **options).close()  # type: ignore[arg-type]
    return info.value, time.monotonic() - t0


def test_tls_elect_lock_and_write_fenced(tls_ensemble: Ensemble, path: str) -> None:
    with zkha.Client(tls_ensemble.hosts, 4, tls=tls_of(tls_ensemble), acl="creator") as c:
        work(c, path)
        c.put(f"{path}/data", b"x")
    # The same certificate given as PEM text: the same identity, so the creator's node reads.
    f = tls_files(tls_ensemble)
    pem = zkha.Tls(*(Path(f[k]).read_text() for k in ("ca_cert", "client_cert", "client_key")))
    assert "PRIVATE KEY" not in repr(pem) and "BEGIN" not in repr(pem)
    with zkha.Client(tls_ensemble.hosts, 4, tls=pem) as c:
        assert c.get(f"{path}/data") == b"x"


def test_digest_md5_creator_acl_keeps_another_identity_out(
    digest_ensemble: Ensemble, path: str
) -> None:
    hosts = digest_ensemble.hosts
    with (
        zkha.Client(hosts, 4, sasl=ZKHA, acl="creator") as c,
        zkha.Client(hosts, 4, sasl=OTHER) as other,
    ):
        work(c, path)
        c.put(f"{path}/data", b"x")
        with pytest.raises(zkha.NoAuthError):
            other.get(f"{path}/data")
        with pytest.raises(zkha.NoAuthError):
            other.put(f"{path}/data", b"mine")
        with pytest.raises(zkha.NoAuthError):
            other.delete(f"{path}/data")
        with pytest.raises(zkha.NoAuthError):
            other.lock(f"{path}/lock").acquire(5)
        with other.election(f"{path}/latch", "b") as e, pytest.raises(zkha.NoAuthError):
            e.wait(5)
        assert c.get(f"{path}/data") == b"x"
    with zkha.Client(hosts, 4, sasl=ZKHA) as c:  # open, the default: anyone may write
        c.put(f"{path}-open", b"y")
    with zkha.Client(hosts, 4, sasl=ZKHA, acl=["sasl:zkha:cdrwa", "sasl:other:r"]) as c:
        c.put(f"{path}-list", b"z")
    with zkha.Client(hosts, 4, sasl=OTHER) as other:
        other.put(f"{path}-open", b"mine")
        assert other.get(f"{path}-list") == b"z"
        with pytest.raises(zkha.NoAuthError):
            other.put(f"{path}-list", b"mine")


async def test_asyncio_over_tls_and_digest_md5(
    tls_ensemble: Ensemble, digest_ensemble: Ensemble, path: str
) -> None:
    async with zkha.aio.connect(
        tls_ensemble.hosts, 4, tls=tls_of(tls_ensemble), acl="creator"
    ) as c:
        await work_async(c, path)
    async with zkha.aio.connect(digest_ensemble.hosts, 4, sasl=ZKHA, acl="creator") as c:
        await work_async(c, path)
        await c.put(f"{path}/data", b"x")
    async with zkha.aio.connect(digest_ensemble.hosts, 4, sasl=OTHER) as other:
        with pytest.raises(zkha.NoAuthError):
            await other.get(f"{path}/data")
    with pytest.raises(zkha.NoAuthError, match="DIGEST-MD5 user zkha"):
        await zkha.aio.connect(digest_ensemble.hosts, 4, sasl=zkha.SaslDigestMd5("zkha", "x"))


def test_misconfigurations_fail_fast_naming_the_cause(
    tls_ensemble: Ensemble, digest_ensemble: Ensemble
) -> None:
    f = tls_files(tls_ensemble)
    tls_hosts = tls_ensemble.hosts

    e, took = refused(digest_ensemble.hosts, sasl=zkha.SaslDigestMd5("zkha", "hunter2"))
    assert isinstance(e, zkha.NoAuthError) and "DIGEST-MD5 user zkha" in str(e), e
    assert "hunter2" not in str(e) and took < 15, (e, took)

    e, took = refused(tls_hosts)
    assert isinstance(e, zkha.ConfigError) and "looks like a TLS port" in str(e), e
    assert took < 15, took

    expired = zkha.Tls(f["ca_cert"], f["expired_client_cert"], f["expired_client_key"])
    e, took = refused(tls_hosts, tls=expired)
    assert isinstance(e, zkha.ConfigError), e
    assert f["expired_client_cert"] in str(e) and "expired on 2020-01-0" in str(e), e
    assert took < 1, took

    missing = str(Path(f["dir"]) / "no-such-ca.pem")
    e, _ = refused(tls_hosts, tls=zkha.Tls(missing))
    assert isinstance(e, zkha.ConfigError) and missing in str(e), e

    e, _ = refused(tls_hosts, tls=zkha.Tls(f["ca_cert"], f["client_cert"]))
    assert isinstance(e, zkha.InvalidArgumentError) and "key" in str(e), e
    e, _ = refused(tls_hosts, tls=tls_of(tls_ensemble), acl="creater")
    assert isinstance(e, zkha.InvalidArgumentError) and '"creater"' in str(e), e
    e, _ = refused(tls_hosts, tls=tls_of(tls_ensemble), acl=["sasl:zkha:rwx"])
    assert isinstance(e, zkha.InvalidArgumentError) and "sasl:zkha:rwx" in str(e), e
    e, _ = refused(digest_ensemble.hosts, acl="creator")  # no identity to be the creator
    assert isinstance(e, zkha.InvalidArgumentError) and "authenticated identity" in str(e), e

    assert "hunter2" not in repr(zkha.SaslDigestMd5("zkha", "hunter2"))


def flink_configs(tmp: Path, tls: Ensemble, digest: Ensemble) -> tuple[Path, Path]:
    """Flink configurations as built-in HA reads them: TLS from ZooKeeper's system properties
    (a PEM key store holds the key and the chain), DIGEST-MD5 from a JAAS file."""
    f = tls_files(tls)
    keystore = tmp / "client-keystore.pem"
    keystore.write_text(Path(f["client_cert"]).read_text() + Path(f["client_key"]).read_text())
    opts = (
        f"-Dzookeeper.client.secure=true -Dzookeeper.ssl.trustStore.location={f['ca_cert']} "
        f"-Dzookeeper.ssl.trustStore.type=PEM -Dzookeeper.ssl.keyStore.location={keystore} "
        "-Dzookeeper.ssl.keyStore.type=PEM"
    )
    tls_conf = tmp / "tls.yaml"
    tls_conf.write_text(
        f"high-availability.zookeeper.quorum: {tls.hosts}\n"
        "high-availability.zookeeper.client.acl: creator\n"
        f"env.java.opts.all: {opts}\n"
    )
    jaas = digest.info["sasl_digest"]["users"][0]["jaas"]  # user zkha, DigestLoginModule
    digest_conf = tmp / "digest.yaml"
    digest_conf.write_text(
        f"high-availability.zookeeper.quorum: {digest.hosts}\n"
        "high-availability.zookeeper.client.acl: CREATOR\n"
        f"env.java.opts.all: -Djava.security.auth.login.config={jaas}\n"
    )
    return tls_conf, digest_conf


def test_flink_config_security(
    tls_ensemble: Ensemble, digest_ensemble: Ensemble, path: str, tmp_path: Path
) -> None:
    tls_conf, digest_conf = flink_configs(tmp_path, tls_ensemble, digest_ensemble)
    with zkha.Client.from_flink_config(str(tls_conf)) as c:
        work(c, path)
    with (
        zkha.Client.from_flink_config(str(digest_conf)) as c,
        zkha.Client(digest_ensemble.hosts, 4, sasl=OTHER) as other,
    ):
        c.put(f"{path}/data", b"x")
        with pytest.raises(zkha.NoAuthError):
            other.get(f"{path}/data")
    # Keywords replace the file's: another user, an open ACL.
    with zkha.Client.from_flink_config(str(digest_conf), sasl=OTHER, acl="open") as c:
        c.put(f"{path}-by-other", b"o")
    with zkha.Client(digest_ensemble.hosts, 4, sasl=ZKHA) as c:
        assert c.get(f"{path}-by-other") == b"o"


@contextmanager
def holding(args: list[str], event: str) -> Iterator[None]:
    """Runs ``zkha ARGS`` until it reports EVENT, yields, then stops it with SIGTERM (which
    the CLI forwards to its command) and checks that it ended."""
    p = spawn(*args)
    try:
        read_event(p, event)
        yield
    finally:
        os.kill(p.pid, signal.SIGTERM)
        p.wait(20)
        if p.stdout:
            p.stdout.close()


def test_cli_security_flags(
    tls_ensemble: Ensemble, digest_ensemble: Ensemble, path: str, tmp_path: Path
) -> None:
    f = tls_files(tls_ensemble)
    tls = ["--tls-ca", f["ca_cert"], "--tls-cert", f["client_cert"], "--tls-key", f["client_key"]]
    r = zkha_cli(
        "lock", f"{path}/l", "--hosts", tls_ensemble.hosts, *tls, "--acl", "creator",
        "--json", "--", "true",
    )  # fmt: skip
    assert r.returncode == 0, r.stdout + r.stderr
    assert json.loads(r.stdout.splitlines()[0])["event"] == "acquired"

    pw = tmp_path / "password"
    pw.write_text("secret\n")
    sasl = ["--hosts", digest_ensemble.hosts, "--sasl-user", "zkha"]
    r = zkha_cli(
        "elect", f"{path}/e", *sasl, "--sasl-password-file", str(pw), "--acl", "creator",
        "--json", "--", "true",
    )  # fmt: skip
    assert r.returncode == 0, r.stdout + r.stderr
    assert [json.loads(x)["event"] for x in r.stdout.splitlines()] == [
        "waiting",
        "granted",
        "exited",
    ]
    # The election's parents are container znodes that ZooKeeper reaps once the last
    # contender left, so the ACL is checked while one holds it.
    elect = ["elect", f"{path}/e2", *sasl, "--sasl-password-file", str(pw), "--acl", "creator"]
    with holding([*elect, "--json", "--", "sleep", "60"], "granted"):
        with zkha.Client(digest_ensemble.hosts, 4, sasl=OTHER) as other:
            with pytest.raises(zkha.NoAuthError):
                other.children(f"{path}/e2")

    env = {**os.environ, "ZKHA_SASL_PASSWORD": "hunter2"}
    r = zkha_cli("lock", f"{path}/l2", *sasl, "--json", "--", "true", env=env)
    assert r.returncode == 2, r.stdout + r.stderr
    err = json.loads(r.stdout)
    assert err["error"] == "NoAuthError" and "DIGEST-MD5 user zkha" in err["message"], err
    assert "hunter2" not in r.stdout + r.stderr

    r = zkha_cli("lock", f"{path}/l3", *sasl, "--", "true")
    assert r.returncode == 2 and "--sasl-user needs a password" in r.stderr, r.stderr


def test_cli_flink_conf(
    tls_ensemble: Ensemble, digest_ensemble: Ensemble, path: str, tmp_path: Path
) -> None:
    tls_conf, digest_conf = flink_configs(tmp_path, tls_ensemble, digest_ensemble)
    r = zkha_cli("flink", "status", "--flink-conf", str(tls_conf), "--json")
    assert r.returncode == 0, r.stdout + r.stderr
    assert json.loads(r.stdout)["root"] == "/flink/default"
    r = zkha_cli("lock", f"{path}/l", "--flink-conf", str(digest_conf), "--json", "--", "true")
    assert r.returncode == 0, r.stdout + r.stderr
    lock = ["lock", f"{path}/l2", "--flink-conf", str(digest_conf), "--json"]
    with holding([*lock, "--", "sleep", "60"], "acquired"):
        with zkha.Client(digest_ensemble.hosts, 4, sasl=OTHER) as other:
            with pytest.raises(zkha.NoAuthError):  # the config's creator ACL, as user zkha
                other.children(f"{path}/l2")

"""SASL Kerberos from Python and the CLI against the test kit's KDC: a keytab login with no
ticket cache, a creator ACL under the principal that keeps another principal out, and clear
errors for a bad keytab or a keytab without its principal."""

from __future__ import annotations

import json
import os
import uuid

import pytest
from conftest import Ensemble
from test_cli import zkha_cli

import zkha


def kerberos(ens: Ensemble, name: str) -> zkha.SaslKerberos:
    k = ens.info["kerberos"]
    c = next(c for c in k["clients"] if c["name"] == name)
    return zkha.SaslKerberos(principal=c["principal"], keytab=c["keytab"], krb5_conf=k["krb5_conf"])


@pytest.fixture
def path() -> str:
    return f"/krb-{uuid.uuid4().hex[:12]}"


@pytest.fixture(autouse=True)
def no_ticket_cache(monkeypatch: pytest.MonkeyPatch) -> None:
    """Only the keytab can log in."""
    monkeypatch.setenv("KRB5CCNAME", "FILE:/nonexistent/zkha-no-ccache")


def test_keytab_login_with_a_creator_acl(kerberos_ensemble: Ensemble, path: str) -> None:
    hosts = kerberos_ensemble.hosts
    with zkha.Client(hosts, 4, sasl=kerberos(kerberos_ensemble, "zkha"), acl="creator") as c:
        e = c.election(f"{path}/latch", "a")
        e.wait(20)
        e.publish_leader_info(f"{path}/leader", b"me")
        with c.lock(f"{path}/lock", timeout=20) as g:
            assert g.is_held
        e.close()
        with zkha.Client(hosts, 4, sasl=kerberos(kerberos_ensemble, "other")) as other:
            with pytest.raises(zkha.NoAuthError):
                other.delete(f"{path}/leader")
            with pytest.raises(zkha.NoAuthError):
                other.get(f"{path}/leader")
        assert c.get(f"{path}/leader") == b"me"


def test_kerberos_misconfigurations(kerberos_ensemble: Ensemble, tmp_path: object) -> None:
    k = kerberos(kerberos_ensemble, "zkha")
    with pytest.raises(ValueError, match="principal"):
        zkha.SaslKerberos(keytab=k.keytab)
    bad = zkha.SaslKerberos(principal="zkha@EXAMPLE.COM", keytab="/nonexistent/zkha.keytab")
    with pytest.raises(zkha.ZkhaError, match="/nonexistent/zkha.keytab"):
        zkha.Client(kerberos_ensemble.hosts, 4, sasl=bad).close()
    other_keytab = kerberos(kerberos_ensemble, "other").keytab
    wrong = zkha.SaslKerberos(principal="zkha@EXAMPLE.COM", keytab=other_keytab)
    with pytest.raises(zkha.ZkhaError, match="zkha@EXAMPLE.COM"):
        zkha.Client(kerberos_ensemble.hosts, 4, sasl=wrong).close()


def test_cli_kerberos_flags(kerberos_ensemble: Ensemble, path: str) -> None:
    info = kerberos_ensemble.info["kerberos"]
    k = kerberos(kerberos_ensemble, "zkha")
    env = {**os.environ, "KRB5_CONFIG": info["krb5_conf"], "KRB5CCNAME": "FILE:/nonexistent/cc"}
    flags = ["--hosts", kerberos_ensemble.hosts, "--kerberos-keytab", str(k.keytab)]
    r = zkha_cli(
        "lock", f"{path}/l", *flags, "--kerberos-principal", str(k.principal),
        "--acl", "creator", "--json", "--", "true", env=env,
    )  # fmt: skip
    assert r.returncode == 0, r.stdout + r.stderr
    assert json.loads(r.stdout.splitlines()[0])["event"] == "acquired"
    r = zkha_cli("lock", f"{path}/l2", *flags, "--", "true", env=env)
    assert r.returncode == 2 and "--kerberos-keytab needs --kerberos-principal" in r.stderr

"""Security options of a client: TLS to the servers, SASL, ``addAuth`` credentials and the ACL
of the znodes zkha creates. The core checks and applies them; errors name the offending input,
never a secret."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

__all__ = ["Acl", "Sasl", "SaslDigestMd5", "SaslKerberos", "Tls"]  # zkha exports the classes

PathOrPem = str | os.PathLike[str]
"""A PEM file's path, or PEM text (a string holding ``-----BEGIN``)."""


def _pem(v: PathOrPem | bytes | None) -> str | None:
    if v is None:
        return None
    if isinstance(v, bytes):
        return v.decode()
    return os.fspath(v)


def _shown(v: str | None) -> str | None:
    return None if v is None or "-----BEGIN" not in v else "<PEM text>"


@dataclass(frozen=True, repr=False)
class Tls:
    """TLS to the servers' ``secureClientPort``.

    ``ca``: the CA certificates the servers' certificates must chain to; ``cert`` and ``key``
    (together): the client's certificate chain and its unencrypted key (PKCS#8, PKCS#1 or
    SEC1), for servers that want one (ZooKeeper's default ``ssl.clientAuth=need``). Each is a
    PEM file's path or PEM text. ``hostname_verification``: the server's certificate must
    name the host as written in the connect string. ``reload_every``: seconds between checks
    of the files for changes, which apply from the next connection (default 60; 0: never).
    The repr shows paths, never PEM text.
    """

    ca: PathOrPem
    cert: PathOrPem | None = None
    key: PathOrPem | None = None
    hostname_verification: bool = True
    reload_every: float | None = None

    def __post_init__(self) -> None:
        for name in ("ca", "cert", "key"):
            object.__setattr__(self, name, _pem(getattr(self, name)))

    def __repr__(self) -> str:
        shown = ", ".join(
            f"{n}={(_shown(v) or v)!r}"
            for n in ("ca", "cert", "key")
            if (v := getattr(self, n)) is not None
        )
        return (
            f"Tls({shown}, hostname_verification={self.hostname_verification}"
            + (f", reload_every={self.reload_every}" if self.reload_every is not None else "")
            + ")"
        )


@dataclass(frozen=True)
class SaslDigestMd5:
    """SASL DIGEST-MD5 as a user of the servers' JAAS ``Server`` section (ACL id
    ``sasl:<username>``). A refused login raises :class:`zkha.NoAuthError` naming the user.
    The repr hides the password."""

    username: str
    password: str = field(repr=False)
    mechanism: ClassVar[str] = "DIGEST-MD5"


@dataclass(frozen=True)
class SaslKerberos:
    """SASL GSSAPI (Kerberos) through MIT Kerberos, loaded only when this is used
    (``libgssapi_krb5.so.2``: Debian/Ubuntu ``libgssapi-krb5-2``, RHEL ``krb5-libs``).

    ``keytab`` with ``principal``: log in from the keytab into a private in-memory ticket
    cache, renewed by zkha (how services such as Flink run). Without ``keytab``: the tickets in
    ``ticket_cache`` (``FILE:/tmp/krb5cc_1000``; ``None``: ``KRB5CCNAME`` or the default),
    which something else (kinit, k5start) renews. ``service``: the servers' service name
    (ZooKeeper's ``zookeeper.sasl.client.username``); ``server_principal`` (full) or
    ``server_realm`` instead of a host-based name; ``canonicalize_hostname``: resolve each
    server to its canonical name, as ZooKeeper's Java client does. ``krb5_conf``: the
    Kerberos configuration file (``KRB5_CONFIG``; one per process). A failed login raises at
    connect, naming its cause. ACL id: ``sasl:<principal>``."""

    principal: str | None = None
    keytab: str | os.PathLike[str] | None = None
    ticket_cache: str | None = None
    service: str = "zookeeper"
    server_principal: str | None = None
    server_realm: str | None = None
    canonicalize_hostname: bool = True
    krb5_conf: str | os.PathLike[str] | None = None
    mechanism: ClassVar[str] = "GSSAPI"

    def __post_init__(self) -> None:
        for name in ("keytab", "krb5_conf"):
            if (v := getattr(self, name)) is not None:
                object.__setattr__(self, name, os.fspath(v))
        if self.keytab is not None and not self.principal:
            raise ValueError("SaslKerberos: a keytab needs its principal")


Sasl = SaslDigestMd5 | SaslKerberos
"""The SASL mechanisms a client takes (one object per mechanism)."""

Acl = Literal["open", "creator"] | Sequence[str]
"""``"open"`` (world:anyone, the default), ``"creator"`` (only the authenticated identity that
created a node: SASL, an auth credential or a TLS client certificate; Flink's ``creator``) or
a list of ``scheme:id:perms`` entries (perms from ``crwda``, e.g. ``"sasl:flink:cdrwa"``)."""


def native(
    tls: Tls | None,
    sasl: Sasl | None,
    auth: str | Sequence[str] | None,
    acl: Acl | None,
) -> dict[str, Any]:
    """The security keywords of the native ``connect`` / ``from_flink_config``."""
    return {
        "tls": tls,
        "sasl": sasl,
        "auth": [auth] if isinstance(auth, str) else None if auth is None else list(auth),
        "acl": acl if acl is None or isinstance(acl, str) else list(acl),
    }

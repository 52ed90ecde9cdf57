"""The ``zkha`` command line (every command takes ``--json``).

    zkha flink status --config conf/config.yaml      leaders, jobs, latest checkpoints
    zkha flink checkpoints JOB --config ...          a job's retained checkpoints
    zkha flink step-down --config ...                hand leadership to a standby
    zkha flink config push FILE --note N --config .. store a cluster's configuration (versioned)
    zkha flink config pull --role R --to DIR ...     write the effective config.yaml
    zkha flink config diff|history|rollback V|remove|watch|status
    zkha lock PATH --hosts H -- CMD...               run CMD holding the lock
    zkha elect PATH --hosts H -- CMD...              run CMD only while leader
    zkha health HOSTS                                ruok/srvr/mntr of every server, quorum
    zkha watch PATH --hosts H                        print changes below PATH

Secured ZooKeeper: ``--tls-ca/--tls-cert/--tls-key`` (PEM), ``--sasl-user`` with
``--sasl-password-file`` or ``ZKHA_SASL_PASSWORD``, ``--kerberos-keytab`` with
``--kerberos-principal`` (or ``--kerberos`` for a ticket cache), ``--auth scheme:cred`` (or
``ZKHA_AUTH``), ``--acl open|creator|scheme:id:perms,...``; ``--flink-conf`` (``--config``)
reads all of it from a Flink configuration as Flink's built-in HA does, the flags replacing
the file's.

Exit status: CMD's status for ``lock``/``elect``; 3 when leadership or the lock was lost
while CMD ran (CMD is stopped); 2 on usage or zkha errors; 1 when ``health`` finds no quorum
or ``flink config status`` a stale process; 4 when a compare-and-set write lost to another
one (a ``flink config`` push, rollback or remove: look at the new version, then try again).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from typing import Any, NoReturn

from . import _zkha
from ._errors import BadVersionError, ZkhaError
from ._errors import TimeoutError as ZTimeoutError
from ._security import SaslDigestMd5, SaslKerberos, Tls
from ._sync import Client, Election
from .flink import Cluster, ConfigStore

LOST = 3
USAGE = 2


def _usage(message: str) -> NoReturn:
    print(message, file=sys.stderr)
    raise SystemExit(USAGE)


class _Out:
    def __init__(self, as_json: bool) -> None:
        self.json = as_json

    def emit(self, obj: dict[str, Any], text: str) -> None:
        if self.json:
            print(json.dumps(obj, sort_keys=True), flush=True)
        else:
            print(text, flush=True)


def _security(args: argparse.Namespace) -> dict[str, Any]:
    """The security flags as keywords of :class:`Client`; secrets also from a file or the
    environment (ZKHA_SASL_PASSWORD, ZKHA_AUTH), which other users cannot see in ``ps``."""
    tls = None
    if args.tls_ca:
        tls = Tls(
            args.tls_ca,
            args.tls_cert,
            args.tls_key,
            hostname_verification=not args.no_hostname_verification,
        )
    elif args.tls_cert or args.tls_key or args.no_hostname_verification:
        _usage("zkha: --tls-cert, --tls-key and --no-hostname-verification need --tls-ca")
    password = args.sasl_password
    if args.sasl_password_file:
        try:
            with open(args.sasl_password_file) as f:
                password = f.readline().rstrip("\r\n")
        except OSError as e:
            _usage(f"zkha: --sasl-password-file: {e}")
    sasl: SaslDigestMd5 | SaslKerberos | None = None
    if args.sasl_user:
        password = password if password is not None else os.environ.get("ZKHA_SASL_PASSWORD")
        if password is None:
            _usage(
                "zkha: --sasl-user needs a password: --sasl-password-file FILE, "
                "ZKHA_SASL_PASSWORD or --sasl-password"
            )
        sasl = SaslDigestMd5(args.sasl_user, password)
    elif password is not None:
        _usage("zkha: --sasl-password and --sasl-password-file need --sasl-user")
    if args.kerberos or args.kerberos_keytab:
        if sasl is not None:
            _usage("zkha: --sasl-user and --kerberos* are two SASL mechanisms: pick one")
        if args.kerberos_keytab and not args.kerberos_principal:
            _usage("zkha: --kerberos-keytab needs --kerberos-principal")
        sasl = SaslKerberos(
            principal=args.kerberos_principal,
            keytab=args.kerberos_keytab,
            service=args.kerberos_service,
        )
    elif args.kerberos_principal:
        _usage("zkha: --kerberos-principal needs --kerberos-keytab or --kerberos")
    auth = args.auth or ([os.environ["ZKHA_AUTH"]] if os.environ.get("ZKHA_AUTH") else None)
    # A mode name as given (the core names a bad one); entries as a list.
    acl = args.acl.split(",") if args.acl and ":" in args.acl else args.acl
    return {"tls": tls, "sasl": sasl, "auth": auth, "acl": acl}


def _client(args: argparse.Namespace) -> Client:
    if getattr(args, "config", None):
        return Client.from_flink_config(args.config, **_security(args))
    hosts = args.hosts or os.environ.get("ZKHA_HOSTS")
    if not hosts:
        _usage("zkha: give --hosts (or ZKHA_HOSTS) or --config")
    return Client(hosts, session_timeout=args.session_timeout, **_security(args))


def _cluster(args: argparse.Namespace) -> Cluster:
    if args.config:
        return Cluster.from_flink_config(args.config, **_security(args))
    c = Cluster(_client(args), args.root)
    c._owned = True
    return c


# ---- flink -----------------------------------------------------------------------------------


def cmd_flink_status(args: argparse.Namespace, out: _Out) -> int:
    with _cluster(args) as cluster:
        st = cluster.status()
    lines = [f"cluster {st['root']}"]
    for comp, lead in st["leaders"].items():
        lines.append(
            f"  {comp:<17} "
            + (f"{lead['address']} (session {lead['leader_session_id']})" if lead else "-")
        )
    lines.append(f"jobs: {len(st['jobs'])}")
    for job, j in st["jobs"].items():
        cp = j["latest_checkpoint"]
        lines.append(
            f"  {job} latest checkpoint "
            + (f"{cp['id']} at {cp['location']}" if cp else "-")
            + f", counter {j['checkpoint_counter']}"
        )
    out.emit(st, "\n".join(lines))
    return 0


def cmd_flink_checkpoints(args: argparse.Namespace, out: _Out) -> int:
    with _cluster(args) as cluster:
        cps = [c.to_dict() for c in cluster.checkpoints(args.job)]
        counter = cluster.checkpoint_counter(args.job)
    text = "\n".join(f"{c['id']}\t{c['location']}\t{c['state_size']}" for c in cps) or "-"
    out.emit({"job": args.job, "checkpoints": cps, "checkpoint_counter": counter}, text)
    return 0


def cmd_flink_step_down(args: argparse.Namespace, out: _Out) -> int:
    with _cluster(args) as cluster:
        report = cluster.step_down(force=args.force, timeout=args.timeout)
    lines = [f"{s['at_ms']:>+9.1f} ms  {s['what']}" for s in report["timeline"]]

    def who(p: dict[str, Any] | None) -> str:
        return "?" if p is None else str(p["participant_id"] or p["node"])

    took = report.get("new_leader_ms")
    lines.append(
        f"stepped down: {who(report['leader'])} -> {who(report.get('new_leader'))}"
        + (f" in {took:.1f} ms" if took is not None else "")
    )
    out.emit(report, "\n".join(lines))
    return 0


# ---- flink config ----------------------------------------------------------------------------


def _store(args: argparse.Namespace) -> ConfigStore:
    if getattr(args, "config", None):
        return ConfigStore.from_flink_config(args.config, **_security(args))
    if not args.store:
        _usage("zkha: give --config (the cluster's Flink configuration) or --hosts and --store")
    s = ConfigStore(_client(args), args.store)
    s._owned = True
    return s


def _part(args: argparse.Namespace) -> str:
    if args.role and args.host_overlay:
        _usage("zkha: give --role or --host, not both")
    if args.role:
        return f"role:{args.role}"
    if args.host_overlay:
        return f"host:{args.host_overlay}"
    return "base"


def _changes_text(changes: list[dict[str, Any]]) -> str:
    lines = []
    for c in changes:
        if c["before"] is None:
            lines.append(f"  + {c['key']}: {c['after']}")
        elif c["after"] is None:
            lines.append(f"  - {c['key']}: {c['before']}")
        else:
            lines.append(f"  ~ {c['key']}: {c['before']} -> {c['after']}")
    return "\n".join(lines) or "  (no key changes)"


CONFLICT = 4


def _confirm(question: str, details: str) -> bool:
    """Shows ``details`` and asks; a usage error without a terminal (give --yes)."""
    if not sys.stdin.isatty():
        _usage("zkha: not a terminal to ask on: give --yes")
    print(details)
    return input(f"{question} [y/N] ").strip().lower() in ("y", "yes")


def cmd_config_push(args: argparse.Namespace, out: _Out) -> int:
    try:
        with open(args.file, encoding="utf-8") as f:
            text = f.read()
    except OSError as e:
        _usage(f"zkha: cannot read {args.file}: {e}")
    name = os.path.basename(args.file)
    part = _part(args)
    with _store(args) as store:
        cur = store.current()
        seen = cur["version"] if cur else 0
        markers = args.secret_markers
        changes = store.preview(part, text, name, args.force, markers)
        unknown, listed = _zkha.ConfigStore.unknown_keys(text, name, args.flink_version)
        for k in unknown:
            print(
                f"warning: {k} is not a Flink {listed} key (fine for a connector's or plugin's"
                " own key)",
                file=sys.stderr,
            )
        if not args.yes and not _confirm(
            "push?", f"{part} of {store.path}, on version {seen}:\n{_changes_text(changes)}"
        ):
            print("not pushed")
            return 1
        doc = store.push(
            part,
            text,
            args.note,
            name,
            allow_secrets=args.force,
            expected=seen,
            secret_markers=markers,
        )
    out.emit(
        {
            "version": doc["version"],
            "changed": doc["changed"],
            "changes": changes,
            "unknown_keys": unknown,
        },
        f"pushed {part} as version {doc['version']}\n{_changes_text(changes)}",
    )
    return 0


def cmd_config_pull(args: argparse.Namespace, out: _Out) -> int:
    with _store(args) as store:
        version, text = store.pull(args.role, args.host_overlay, args.file_name)
    target = os.path.join(args.to, args.file_name)
    os.makedirs(args.to, exist_ok=True)
    tmp = f"{target}.zkha-tmp"
    # Resolved secrets inside: readable by the owner only; whole or not at all.
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(tmp, target)
    out.emit({"version": version, "file": target}, f"wrote {target} (version {version})")
    return 0


def cmd_config_diff(args: argparse.Namespace, out: _Out) -> int:
    with _store(args) as store:
        cur = store.current()
        if cur is None:
            _usage(f"zkha: no configuration in {store.path} yet")
        to_v = args.to_version or cur["version"]
        from_v = args.from_version if args.from_version is not None else to_v - 1
        changes = store.diff(from_v, to_v, args.role, args.host_overlay)
    out.emit(
        {"from": from_v, "to": to_v, "changes": changes},
        f"version {from_v} -> {to_v}:\n{_changes_text(changes)}",
    )
    return 0


def cmd_config_history(args: argparse.Namespace, out: _Out) -> int:
    with _store(args) as store:
        hist = store.history()

    def when(ms: int) -> str:
        return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ms / 1000))

    lines = [
        f"{h['version']:>5}  {when(h['time_ms'])}  {h['author']}  {h['changed']}"
        + (f": {h['note']}" if h["note"] else "")
        for h in hist
    ]
    out.emit({"history": hist}, "\n".join(lines) or "no configuration pushed yet")
    return 0


def cmd_config_rollback(args: argparse.Namespace, out: _Out) -> int:
    with _store(args) as store:
        cur = store.current()
        seen = cur["version"] if cur else 0
        changes = store.diff(seen, args.version)
        if not args.yes and not _confirm(
            f"make version {args.version} current again?",
            f"{store.path}: version {seen} -> {args.version} (base):\n{_changes_text(changes)}",
        ):
            print("not rolled back")
            return 1
        note = args.note or f"rollback to {args.version}"
        doc = store.rollback(args.version, note, expected=seen)
    out.emit(
        {"version": doc["version"], "changed": doc["changed"], "changes": changes},
        f"version {args.version} is current again as version {doc['version']}",
    )
    return 0


def cmd_config_remove(args: argparse.Namespace, out: _Out) -> int:
    part = _part(args)
    if part == "base":
        _usage("zkha: give --role or --host: the overlay to remove (the base is replaced by push)")
    kind, name = part.split(":", 1)
    with _store(args) as store:
        cur = store.current()
        seen = cur["version"] if cur else 0
        overlay = (cur or {}).get("roles" if kind == "role" else "hosts", {}).get(name)
        keys = sorted(_zkha.ConfigStore.parse_text(overlay, "config.yaml")) if overlay else []
        if not args.yes and not _confirm(
            f"remove {part}?",
            f"{store.path}: on version {seen}, {part} sets: {', '.join(keys) or '(nothing)'}",
        ):
            print("not removed")
            return 1
        doc = store.remove_overlay(part, args.note or f"remove {part}", expected=seen)
    out.emit(
        {"version": doc["version"], "changed": doc["changed"], "keys": keys},
        f"removed {part} as version {doc['version']} (it set {', '.join(keys) or 'nothing'})",
    )
    return 0


def cmd_config_status(args: argparse.Namespace, out: _Out) -> int:
    with _store(args) as store:
        cur = store.current()
        procs = store.status()
    lines = [f"current version {cur['version'] if cur else '-'}"]
    for p in procs:
        state = "STALE" if p["stale"] else "current"
        lines.append(f"  {p['role']:<12} {p['host']}:{p['pid']}  version {p['version']}  {state}")
        if p["stale"] and not p["known"]:
            lines.append("    (its version is no longer kept: restart it)")
        for c in p["differs"]:
            lines.append(f"    {c['key']}: {c['before']} -> {c['after']}")
    out.emit({"current": cur["version"] if cur else None, "processes": procs}, "\n".join(lines))
    return 1 if any(p["stale"] for p in procs) else 0


def cmd_config_watch(args: argparse.Namespace, out: _Out) -> int:
    with _store(args) as store:
        watch = store.client.watch_data(f"{store.path}/current")
        last = -1
        deadline = None if args.timeout is None else time.monotonic() + args.timeout
        while deadline is None or time.monotonic() < deadline:
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            try:
                data = watch.next_value(left)
            except ZTimeoutError:
                break  # no change within the timeout
            cur = None if data is None else json.loads(data)
            if cur is not None and cur["version"] != last:
                last = cur["version"]
                out.emit(
                    {k: cur[k] for k in ("version", "author", "time_ms", "note", "changed")},
                    f"version {cur['version']} by {cur['author']}: {cur['changed']}"
                    + (f": {cur['note']}" if cur["note"] else ""),
                )
        watch.close()
    return 0


# ---- lock / elect ----------------------------------------------------------------------------


def _stop(child: subprocess.Popen[bytes], grace: float) -> int:
    """SIGTERM the child's process group, SIGKILL after ``grace`` seconds."""
    if child.poll() is None:
        try:
            os.killpg(child.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        try:
            child.wait(grace)
        except subprocess.TimeoutExpired:
            try:
                os.killpg(child.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            child.wait()
    return child.returncode


def _spawn(cmd: Sequence[str]) -> subprocess.Popen[bytes]:
    # Own process group, so the whole command tree is stopped on revoke.
    return subprocess.Popen(list(cmd), start_new_session=True)


def _forward_signals(child: list[subprocess.Popen[bytes] | None]) -> None:
    def handler(signum: int, _frame: object) -> None:
        c = child[0]
        if c is not None and c.poll() is None:
            try:
                os.killpg(c.pid, signum)
            except ProcessLookupError:
                pass
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, handler)


class _Session:
    """The CLI's client: closed with a bounded wait, so a command whose connection is gone
    still exits promptly (the session then ends by expiry)."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.client = _client(args)
        self.close_timeout: float = args.close_timeout

    def __enter__(self) -> Client:
        return self.client

    def __exit__(self, *exc: object) -> None:
        self.client.close(self.close_timeout)


def cmd_lock(args: argparse.Namespace, out: _Out) -> int:
    if not args.cmd:
        _usage("zkha lock: give a command after --")
    holder: list[subprocess.Popen[bytes] | None] = [None]
    _forward_signals(holder)
    with _Session(args) as client:
        guard = client.lock(args.path).acquire(args.timeout)
        child = _spawn(args.cmd)
        holder[0] = child
        try:
            out.emit(
                {
                    "event": "acquired",
                    "path": args.path,
                    "fencing_token": guard.fencing_token,
                    "pid": child.pid,
                },
                f"zkha: lock {args.path} acquired (token {guard.fencing_token}), "
                f"running pid {child.pid}",
            )
            while child.poll() is None:
                if guard.lost_reason is not None or not guard.is_held:
                    _stop(child, args.grace)
                    out.emit(
                        {"event": "lost", "path": args.path, "reason": guard.lost_reason},
                        f"zkha: lock {args.path} lost, command stopped",
                    )
                    return LOST  # the node is gone with the lock; closing ends the session
                time.sleep(0.1)
        except KeyboardInterrupt:
            _stop(child, args.grace)
            raise
        finally:
            if guard.lost_reason is None:
                guard.release()
        out.emit(
            {"event": "released", "path": args.path, "exit_code": child.returncode},
            f"zkha: lock {args.path} released",
        )
        return child.returncode


def cmd_elect(args: argparse.Namespace, out: _Out) -> int:
    if not args.cmd:
        _usage("zkha elect: give a command after --")
    holder: list[subprocess.Popen[bytes] | None] = [None]
    _forward_signals(holder)
    with _Session(args) as client:
        election = client.election(args.path, args.id)
        try:
            return _lead(args, out, election, holder)
        finally:
            election.close(args.close_timeout)


def _lead(
    args: argparse.Namespace,
    out: _Out,
    election: Election,
    holder: list[subprocess.Popen[bytes] | None],
) -> int:
    out.emit(
        {"event": "waiting", "path": args.path, "id": election.participant_id},
        f"zkha: waiting for leadership on {args.path}",
    )
    lead = None
    while lead is None:
        ev = election.next_event(None)
        if ev is not None and ev.kind == "granted":
            lead = ev.leadership
        elif ev is not None and ev.kind == "error":
            # Told once; the core keeps retrying, so fixing the cause lets us in.
            out.emit(
                {"event": "error", "path": args.path, "error": str(ev.error)},
                f"zkha: cannot contend for leadership on {args.path}: {ev.error} (retrying)",
            )
    assert lead is not None
    child = _spawn(args.cmd)
    holder[0] = child
    try:  # from here on, an interrupt stops the child
        out.emit(
            {
                "event": "granted",
                "path": args.path,
                "fencing_token": lead.fencing_token,
                "leader_session_id": lead.leader_session_id,
                "pid": child.pid,
            },
            f"zkha: leader on {args.path} (token {lead.fencing_token}), running pid {child.pid}",
        )
        while child.poll() is None:
            ev = election.next_event(0.1)
            if ev is not None and ev.kind == "revoked":
                _stop(child, args.grace)
                out.emit(
                    {"event": "revoked", "path": args.path, "reason": ev.reason},
                    f"zkha: leadership revoked ({ev.reason}), command stopped",
                )
                return LOST
    except KeyboardInterrupt:
        _stop(child, args.grace)
        raise
    out.emit(
        {"event": "exited", "path": args.path, "exit_code": child.returncode},
        f"zkha: command exited with {child.returncode}, leaving the election",
    )
    return child.returncode


# ---- watch -----------------------------------------------------------------------------------


def cmd_watch(args: argparse.Namespace, out: _Out) -> int:
    with _Session(args) as client:
        w = client.config_watch(args.path, timeout=args.timeout or 30)
        for k, v in sorted(w.initial.items()):
            out.emit({"event": "value", "path": k, "value": _text(v)}, f"{k} = {_text(v)}")
        n = 0
        while args.count is None or n < args.count:
            ch = w.next_change(args.timeout)
            if ch is None:
                break
            n += 1
            if ch.value is None:
                out.emit({"event": "deleted", "path": ch.path}, f"{ch.path} deleted")
            else:
                text = _text(ch.value)
                out.emit(
                    {"event": "changed", "path": ch.path, "value": text}, f"{ch.path} = {text}"
                )
    return 0


def _text(b: bytes) -> str:
    try:
        return b.decode()
    except UnicodeDecodeError:
        return b.hex()


# ---- health ----------------------------------------------------------------------------------


def four_letter(host: str, port: int, word: str, timeout: float) -> str:
    with socket.create_connection((host, port), timeout=timeout) as s:
        s.sendall(word.encode())
        chunks = []
        while True:
            b = s.recv(65536)
            if not b:
                break
            chunks.append(b)
    return b"".join(chunks).decode(errors="replace")


def _servers(hosts: str) -> list[tuple[str, int]]:
    """The (host, port) pairs of a connect string, parsed by the core (as the client does)."""
    return _zkha.parse_connect_string(hosts)[0]


def health(hosts: str, timeout: float = 2.0) -> dict[str, Any]:
    """ruok/srvr/mntr of every server in ``hosts`` and a quorum summary."""
    servers = []
    for host, port in _servers(hosts):
        s: dict[str, Any] = {"server": f"{host}:{port}"}
        try:
            s["ruok"] = four_letter(host, port, "ruok", timeout).strip() == "imok"
        except OSError as e:
            s.update(ruok=False, error=str(e))
            servers.append(s)
            continue
        for word in ("srvr", "mntr"):
            try:
                text = four_letter(host, port, word, timeout)
            except OSError as e:
                s[f"{word}_error"] = str(e)
                continue
            if word == "srvr":
                kv = dict(
                    (k.strip(), v.strip())
                    for k, _, v in (line.partition(":") for line in text.splitlines())
                    if _
                )
                s["mode"] = kv.get("Mode")
                s["version"] = kv.get("Zookeeper version", "").split(",")[0] or None
                s["zxid"] = kv.get("Zxid")
                s["connections"] = int(kv["Connections"]) if "Connections" in kv else None
                if not kv:
                    s["srvr_error"] = text.strip()[:200]
            else:
                m = dict(line.split("\t", 1) for line in text.splitlines() if "\t" in line)
                s["mntr"] = m
        servers.append(s)
    serving = [s for s in servers if s.get("mode")]
    leaders = [s["server"] for s in serving if s["mode"] in ("leader", "standalone")]
    n = len(servers)
    quorum = len(serving) > n // 2 and len(leaders) == 1
    return {
        "servers": servers,
        "quorum": {
            "size": n,
            "serving": len(serving),
            "needed": n // 2 + 1,
            "leader": leaders[0] if len(leaders) == 1 else None,
            "ok": quorum,
        },
    }


def cmd_health(args: argparse.Namespace, out: _Out) -> int:
    h = health(args.hosts, args.timeout or 2.0)
    lines = []
    for s in h["servers"]:
        state = s.get("mode") or ("imok" if s.get("ruok") else s.get("error") or "not serving")
        lines.append(f"{s['server']:<24} {state:<10} {s.get('version') or ''}")
    q = h["quorum"]
    lines.append(
        f"quorum: {'OK' if q['ok'] else 'NOT OK'} ({q['serving']}/{q['size']} serving, "
        f"{q['needed']} needed, leader {q['leader'] or '-'})"
    )
    out.emit(h, "\n".join(lines))
    return 0 if q["ok"] else 1


# ---- doctor ----------------------------------------------------------------------------------


def cmd_doctor(args: argparse.Namespace, out: _Out) -> int:
    hosts = args.hosts or (None if args.config else os.environ.get("ZKHA_HOSTS"))
    if not hosts and not args.config:
        raise SystemExit("zkha doctor: give --flink-conf PATH or --hosts (or ZKHA_HOSTS)")
    passed, report, text = _zkha.doctor(
        hosts,
        args.config,
        args.session_timeout,
        args.admin or [],
        args.timeout,
        args.flink_home,
        args.via_flink,
    )
    out.emit(json.loads(report), text.rstrip("\n"))
    return 0 if passed else 1


# ---- main ------------------------------------------------------------------------------------


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="zkha", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = p.add_subparsers(dest="command", required=True)

    def common(sp: argparse.ArgumentParser, connect: bool = True) -> None:
        sp.add_argument("--json", action="store_true", help="JSON output (one object a line)")
        if connect:
            sp.add_argument(
                "--close-timeout", type=float, default=2.0, help="seconds to wait for close"
            )
            sp.add_argument("--hosts", help="ZooKeeper connect string (or ZKHA_HOSTS)")
            sp.add_argument(
                "--config",
                "--flink-conf",
                dest="config",
                help="Flink config.yaml: ZooKeeper settings from it, security included "
                "(the flags below replace the file's)",
            )
            sp.add_argument("--session-timeout", type=float, default=None, help="seconds")
            sec = sp.add_argument_group("secured ZooKeeper")
            sec.add_argument("--tls-ca", metavar="PEM", help="TLS: CA certificates (PEM file)")
            sec.add_argument("--tls-cert", metavar="PEM", help="TLS: client certificate chain")
            sec.add_argument("--tls-key", metavar="PEM", help="TLS: client key (unencrypted)")
            sec.add_argument(
                "--no-hostname-verification",
                action="store_true",
                help="TLS: accept a server certificate that does not name the host",
            )
            sec.add_argument("--sasl-user", help="SASL DIGEST-MD5 user")
            sec.add_argument(
                "--sasl-password-file",
                metavar="FILE",
                help="its password, the file's first line (or ZKHA_SASL_PASSWORD)",
            )
            sec.add_argument(
                "--sasl-password", help="its password (visible in ps: prefer the file or env)"
            )
            sec.add_argument(
                "--kerberos",
                action="store_true",
                help="SASL GSSAPI with the tickets of KRB5CCNAME (kinit)",
            )
            sec.add_argument("--kerberos-keytab", metavar="FILE", help="Kerberos: log in from")
            sec.add_argument("--kerberos-principal", help="Kerberos: the client principal")
            sec.add_argument(
                "--kerberos-service",
                default="zookeeper",
                help="Kerberos: the servers' service name (default zookeeper)",
            )
            sec.add_argument(
                "--auth",
                action="append",
                metavar="SCHEME:CRED",
                help="addAuth credential, e.g. digest:user:pw (repeatable; or ZKHA_AUTH)",
            )
            sec.add_argument(
                "--acl",
                metavar="MODE",
                help="ACL of created znodes: open, creator or scheme:id:perms[,...]",
            )

    flink = sub.add_parser("flink", help="Flink HA view").add_subparsers(
        dest="flink_command", required=True
    )
    st = flink.add_parser("status", help="leaders, jobs, latest checkpoints")
    common(st)
    st.add_argument("--root", default="/flink/default", help="with --hosts: cluster root")
    st.set_defaults(func=cmd_flink_status)
    cp = flink.add_parser("checkpoints", help="a job's retained checkpoints")
    cp.add_argument("job")
    common(cp)
    cp.add_argument("--root", default="/flink/default", help="with --hosts: cluster root")
    cp.set_defaults(func=cmd_flink_checkpoints)
    sd = flink.add_parser(
        "step-down",
        help="make the leading JobManager hand over to a standby, without a restart",
        description="Asks the leading JobManager (zkha) to hand over to the next one and "
        "waits until that one leads, printing the timeline. Refused when no standby is there, "
        "and when the leader or the next contender is a Flink built-in HA (Curator) "
        "JobManager, unless --force.",
    )
    common(sd)
    sd.add_argument("--root", default="/flink/default", help="with --hosts: cluster root")
    sd.add_argument(
        "--force",
        action="store_true",
        help="hand over although the leader or the next contender is not zkha (a leader "
        "that is not zkha has its latch node deleted and may lead on until its session ends)",
    )
    sd.add_argument("--timeout", type=float, default=30.0, help="seconds to wait (default 30)")
    sd.set_defaults(func=cmd_flink_step_down)
    cfg = flink.add_parser(
        "config", help="the cluster's central configuration in ZooKeeper (versioned)"
    ).add_subparsers(dest="config_command", required=True)

    def config_common(sp: argparse.ArgumentParser, overlay: bool = False) -> None:
        common(sp)
        sp.add_argument(
            "--store", help="with --hosts: the store path (<path.root>/zkha-config/<id>)"
        )
        if overlay:
            sp.add_argument("--role", choices=["jobmanager", "taskmanager"], help="role overlay")
            sp.add_argument("--host", dest="host_overlay", metavar="HOST", help="host overlay")

    cpush = cfg.add_parser(
        "push", help="store FILE (config.yaml or flink-conf.yaml) as a new version"
    )
    cpush.add_argument("file")
    cpush.add_argument("--note", required=True, help="the change note kept with the version")
    cpush.add_argument(
        "--yes", action="store_true", help="push without showing the diff and asking"
    )
    cpush.add_argument("--force", action="store_true", help="store secret-looking values in clear")
    cpush.add_argument(
        "--secret-markers",
        metavar="LIST",
        help="comma-separated parts of key names whose values are secrets, instead of the"
        f" default {','.join(_zkha.ConfigStore.default_secret_markers())}"
        " (known secret keys count always)",
    )
    cpush.add_argument(
        "--flink-version",
        default="2.3",
        help="warn about keys this Flink version does not know (default 2.3; 1.20 to 2.3)",
    )
    config_common(cpush, overlay=True)
    cpush.set_defaults(func=cmd_config_push)
    cpull = cfg.add_parser("pull", help="write the effective config.yaml for a role and host")
    cpull.add_argument("--to", required=True, metavar="DIR", help="Flink's conf directory")
    cpull.add_argument("--file-name", default="config.yaml", help="default config.yaml")
    config_common(cpull, overlay=True)
    cpull.set_defaults(func=cmd_config_pull)
    cdiff = cfg.add_parser("diff", help="effective key changes between two versions")
    cdiff.add_argument("--from", dest="from_version", type=int, help="default: the one before --to")
    cdiff.add_argument("--to", dest="to_version", type=int, help="default: the current version")
    config_common(cdiff, overlay=True)
    cdiff.set_defaults(func=cmd_config_diff)
    chist = cfg.add_parser("history", help="the kept versions")
    config_common(chist)
    chist.set_defaults(func=cmd_config_history)
    croll = cfg.add_parser("rollback", help="make a kept version current again")
    croll.add_argument("version", type=int)
    croll.add_argument("--note", help="the change note (default: rollback to VERSION)")
    croll.add_argument("--yes", action="store_true", help="roll back without asking")
    config_common(croll)
    croll.set_defaults(func=cmd_config_rollback)
    crm = cfg.add_parser("remove", help="remove a role or host overlay (a new version)")
    crm.add_argument("--note", help="the change note (default: remove role:R / host:H)")
    crm.add_argument("--yes", action="store_true", help="remove without asking")
    config_common(crm, overlay=True)
    crm.set_defaults(func=cmd_config_remove)
    cstat = cfg.add_parser("status", help="processes running an older version (exit 1 if any)")
    config_common(cstat)
    cstat.set_defaults(func=cmd_config_status)
    cwatch = cfg.add_parser("watch", help="print each new version")
    cwatch.add_argument("--timeout", type=float, default=None, help="stop after seconds")
    config_common(cwatch)
    cwatch.set_defaults(func=cmd_config_watch)

    lk = sub.add_parser("lock", help="run CMD holding the lock at PATH")
    lk.add_argument("path")
    common(lk)
    lk.add_argument("--timeout", type=float, default=None, help="give up after seconds")
    lk.add_argument("--grace", type=float, default=5.0, help="SIGTERM→SIGKILL seconds")
    lk.set_defaults(func=cmd_lock)

    el = sub.add_parser("elect", help="run CMD only while leader on PATH")
    el.add_argument("path")
    common(el)
    el.add_argument("--id", default=None, help="participant id (default host-pid)")
    el.add_argument("--grace", type=float, default=5.0, help="SIGTERM→SIGKILL seconds")
    el.set_defaults(func=cmd_elect)

    he = sub.add_parser("health", help="ruok/srvr/mntr of every server, quorum summary")
    he.add_argument("hosts")
    common(he, connect=False)
    he.add_argument("--timeout", type=float, default=2.0)
    he.set_defaults(func=cmd_health)

    do = sub.add_parser(
        "doctor",
        help="check the ensemble and a Flink cluster's HA setup; exit 1 if a check fails",
        description="Checks the ZooKeeper ensemble (every server, its mode, zxid lag, latency, "
        "an even-sized or degraded ensemble), the session timeout the servers grant, "
        "security and the HA root's ACL and, with --flink-conf, the cluster's leaders, "
        "contenders and their liveness endpoints, high-availability.storageDir, every "
        "checkpoint and execution-plan pointer's file and the Flink settings that slow a "
        "recovery. Each failed check says what to change. Security settings come from the "
        "Flink configuration.",
    )
    do.add_argument("--json", action="store_true", help="the report as one JSON object")
    do.add_argument("--hosts", help="ZooKeeper connect string (replaces the file's quorum)")
    do.add_argument("--config", "--flink-conf", dest="config", help="Flink config.yaml")
    do.add_argument("--session-timeout", type=float, default=None, help="seconds to ask for")
    do.add_argument(
        "--admin",
        action="append",
        metavar="HOST:PORT",
        help="AdminServer of each server in connect-string order (repeatable), or :PORT for "
        "all: mode, zxid and latency where no plain port answers srvr (TLS-only ensembles)",
    )
    do.add_argument("--timeout", type=float, default=3.0, help="seconds per probe")
    do.add_argument(
        "--flink-home",
        help="Flink installation (lib/, plugins/, the zkha jar) whose file systems check "
        "s3://, hdfs://... storage and pointers (default: FLINK_HOME, else the directory "
        "above the configuration's conf/); needs java",
    )
    do.add_argument(
        "--via-flink",
        action="store_true",
        help="check local paths through Flink's file systems too",
    )
    do.set_defaults(func=cmd_doctor)

    wa = sub.add_parser("watch", help="print values and changes below PATH")
    wa.add_argument("path")
    common(wa)
    wa.add_argument("--count", type=int, default=None, help="stop after N changes")
    wa.add_argument("--timeout", type=float, default=None, help="stop after seconds idle")
    wa.set_defaults(func=cmd_watch)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    cmd: list[str] = []
    if "--" in argv:  # everything after the first "--" is the command of lock/elect
        i = argv.index("--")
        argv, cmd = argv[:i], argv[i + 1 :]
    args = parser().parse_args(argv)
    args.cmd = cmd
    out = _Out(args.json)
    try:
        return int(args.func(args, out))
    except ZkhaError as e:
        out.emit({"error": type(e).__name__, "message": str(e)}, f"zkha: {e}")
        # A compare-and-set write lost to another (config push, rollback, remove).
        return CONFLICT if isinstance(e, BadVersionError) else 2
    except KeyboardInterrupt:
        return 130

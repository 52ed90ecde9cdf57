"""The ``zkha`` CLI in subprocesses: elections across processes with the leader killed, lock
exclusion across processes, ``elect`` stopping its child on revoke, health, watch, flink."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from test_flink import JOB, write_config, write_flink_layout

import zkha
import zkha.flink

CLI = [sys.executable, "-m", "zkha"]


def zkha_cli(
    *args: str, timeout: float = 30, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=timeout, env=env)


def spawn(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [*CLI, *args], stdout=subprocess.PIPE, text=True, start_new_session=True
    )


def read_event(p: subprocess.Popen[str], kind: str, timeout: float = 20) -> dict:
    deadline = time.monotonic() + timeout
    assert p.stdout is not None
    while time.monotonic() < deadline:
        line = p.stdout.readline()
        if not line:
            raise AssertionError(f"process ended before {kind!r} (rc {p.poll()})")
        ev = json.loads(line)
        if ev.get("event") == kind:
            return ev
    raise AssertionError(f"no {kind!r} event within {timeout} s")


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie of ours counts as gone
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[1].split()[0] != "Z"
    except OSError:
        return False


def wait_gone(pid: int, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not alive(pid), f"pid {pid} still running"


def kill_group(p: subprocess.Popen[str]) -> None:
    try:
        os.killpg(p.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    p.wait(10)
    if p.stdout:
        p.stdout.close()


def test_elect_across_processes_leader_killed(hosts: str, path: str) -> None:
    common = ["--hosts", hosts, "--session-timeout", "4", "--json"]
    a = spawn("elect", path, *common, "--id", "a", "--", "sleep", "60")
    b = None
    try:
        ga = read_event(a, "granted")
        b = spawn("elect", path, *common, "--id", "b", "--", "sleep", "60")
        read_event(b, "waiting")
        time.sleep(0.5)
        assert b.poll() is None
        # SIGKILL the leader process (and its child): b takes over once the session expires
        t0 = time.monotonic()
        kill_group(a)
        gb = read_event(b, "granted", timeout=30)
        assert gb["fencing_token"] > ga["fencing_token"]
        assert time.monotonic() - t0 < 15
        assert alive(gb["pid"])
    finally:
        kill_group(a)
        if b is not None:
            kill_group(b)


def test_elect_stops_its_child_on_revoke(client: zkha.Client, hosts: str, path: str) -> None:
    p = spawn("elect", path, "--hosts", hosts, "--json", "--grace", "2", "--", "sleep", "60")
    try:
        g = read_event(p, "granted")
        child = g["pid"]
        assert alive(child)
        # revoke: someone deletes the leader's latch node
        for n in client.children(path) or []:
            client.delete(f"{path}/{n}")
        ev = read_event(p, "revoked")
        assert ev["reason"] == "node_deleted"
        assert p.wait(10) == 3
        wait_gone(child)
    finally:
        kill_group(p)


def test_elect_runs_command_and_passes_exit_code(hosts: str, path: str) -> None:
    r = zkha_cli("elect", path, "--hosts", hosts, "--json", "--", "sh", "-c", "exit 7")
    assert r.returncode == 7, r.stderr
    events = [json.loads(line)["event"] for line in r.stdout.splitlines()]
    assert events == ["waiting", "granted", "exited"]


def test_lock_exclusion_across_processes(hosts: str, path: str, tmp_path: Path) -> None:
    log = tmp_path / "log"
    script = (
        f"import time; f=open({str(log)!r},'a'); f.write('in %f\\n' % time.time()); f.flush(); "
        "time.sleep(0.3); f.write('out %f\\n' % time.time()); f.close()"
    )
    procs = [
        subprocess.Popen(
            [*CLI, "lock", path, "--hosts", hosts, "--", sys.executable, "-c", script],
            stdout=subprocess.DEVNULL,
        )
        for _ in range(3)
    ]
    assert [p.wait(30) for p in procs] == [0, 0, 0]
    lines = log.read_text().split()
    kinds = lines[0::2]
    assert kinds == ["in", "out"] * 3, lines  # never two holders at once


def test_lock_timeout_and_errors(client: zkha.Client, hosts: str, path: str) -> None:
    with client.lock(path):
        r = zkha_cli("lock", path, "--hosts", hosts, "--timeout", "0.3", "--json", "--", "true")
    assert r.returncode == 2
    assert json.loads(r.stdout)["error"] == "TimeoutError"
    r = zkha_cli("lock", "relative", "--hosts", hosts, "--json", "--", "true")
    assert r.returncode == 2 and "InvalidArgumentError" in r.stdout


def test_health(ensemble, hosts: str) -> None:
    r = zkha_cli("health", hosts, "--json")
    assert r.returncode == 0, r.stdout + r.stderr
    h = json.loads(r.stdout)
    assert h["quorum"]["ok"] and h["quorum"]["size"] == 3 and h["quorum"]["leader"]
    assert all(s["ruok"] for s in h["servers"])
    modes = sorted(s["mode"] for s in h["servers"])
    assert modes == ["follower", "follower", "leader"]
    assert all("zk_version" in s["mntr"] for s in h["servers"])
    text = zkha_cli("health", hosts)
    assert "quorum: OK" in text.stdout


def test_health_without_quorum() -> None:
    r = zkha_cli("health", "127.0.0.1:1,127.0.0.1:2", "--json", "--timeout", "0.5")
    assert r.returncode == 1
    assert not json.loads(r.stdout)["quorum"]["ok"]


def test_doctor_passes_a_healthy_ensemble_and_names_what_is_down(hosts: str, tmp_path) -> None:
    r = zkha_cli("doctor", "--hosts", hosts, "--json")
    assert r.returncode == 0, r.stdout + r.stderr
    report = json.loads(r.stdout)
    checks = {c["name"]: c for c in report["checks"]}
    assert report["passed"] and checks["ensemble"]["status"] == "ok"
    assert checks["session-timeout"]["status"] == "ok"
    assert checks["security"]["status"] == "warn"  # plain and unauthenticated
    text = zkha_cli("doctor", "--hosts", hosts)
    assert "every check passed" in text.stdout

    # One server of three that does not answer: named, and the exit code says so.
    first = hosts.split(",")[0]
    r = zkha_cli("doctor", "--hosts", f"{first},127.0.0.1:1", "--json", "--timeout", "1")
    assert r.returncode == 1, r.stdout + r.stderr
    ensemble = {c["name"]: c for c in json.loads(r.stdout)["checks"]}["ensemble"]
    assert ensemble["status"] == "fail" and "127.0.0.1:1" in ensemble["fix"]

    # A Flink configuration whose storageDir is missing.
    conf = tmp_path / "config.yaml"
    conf.write_text(
        f"high-availability.type: zookeeper\nhigh-availability.zookeeper.quorum: {hosts}\n"
        f"high-availability.storageDir: file://{tmp_path}/missing\n"
    )
    r = zkha_cli("doctor", "--flink-conf", str(conf), "--json")
    assert r.returncode == 1
    storage = {c["name"]: c for c in json.loads(r.stdout)["checks"]}["storage"]
    assert storage["status"] == "fail" and f"{tmp_path}/missing" in storage["summary"]


def test_watch(client: zkha.Client, hosts: str, path: str) -> None:
    client.put(f"{path}/a", b"1")
    p = spawn("watch", path, "--hosts", hosts, "--json", "--count", "2", "--timeout", "10")
    try:
        assert read_event(p, "value") == {"event": "value", "path": "a", "value": "1"}
        client.put(f"{path}/b", b"2")
        assert read_event(p, "changed")["path"] == "b"
        client.delete(f"{path}/a")
        assert read_event(p, "deleted")["path"] == "a"
        assert p.wait(10) == 0
    finally:
        kill_group(p)


def test_flink_commands(client: zkha.Client, hosts: str, path: str, tmp_path: Path) -> None:
    write_flink_layout(client, f"{path}/flink/e2e")
    cfg = write_config(tmp_path, hosts, f"{path}/flink")
    r = zkha_cli("flink", "status", "--config", str(cfg), "--json")
    assert r.returncode == 0, r.stderr
    st = json.loads(r.stdout)
    assert st["leaders"]["rest_server"]["address"] == "http://127.0.0.1:28081"
    assert st["jobs"][JOB]["latest_checkpoint"]["id"] == 3
    assert st["jobs"][JOB]["checkpoint_counter"] == 4
    r = zkha_cli("flink", "status", "--config", str(cfg))
    assert "completedCheckpoint76442a50ab4b" in r.stdout
    r = zkha_cli("flink", "checkpoints", JOB, "--config", str(cfg), "--json")
    cps = json.loads(r.stdout)["checkpoints"]
    assert [c["id"] for c in cps] == [3]
    r = zkha_cli("flink", "status", "--config", str(tmp_path / "nope.yaml"), "--json")
    assert r.returncode == 2 and json.loads(r.stdout)["error"] == "IoError"


def test_flink_step_down(hosts: str, path: str) -> None:
    root = f"{path}/flink/step-down"
    latch = f"{root}/leader/latch"
    with zkha.Client(hosts, session_timeout=6) as a, zkha.Client(hosts, session_timeout=6) as b:
        jm1 = a.election(latch, "jm-1")
        jm1.wait(5)
        jm2 = b.election(latch, "jm-2")
        deadline = time.monotonic() + 5
        while len(jm2.contenders()) < 2:
            assert time.monotonic() < deadline, "jm-2 not queued"
            time.sleep(0.02)
        r = zkha_cli("flink", "step-down", "--hosts", hosts, "--root", root, "--json")
        assert r.returncode == 0, r.stdout + r.stderr
        report = json.loads(r.stdout)
        assert report["leader"]["participant_id"] == "jm-1"
        assert report["new_leader"]["participant_id"] == "jm-2"
        assert report["how"] == "asked" and not report["forced"]
        assert report["released_ms"] <= report["new_leader_ms"] < 5000
        whats = [s["what"] for s in report["timeline"]]
        assert any("joined again as a standby" in w for w in whats), whats
        jm2.wait(5)
        revoked = [e for e in jm1.events(timeout=2) if e.kind == "revoked"]
        assert [e.reason for e in revoked][:1] == ["step_down"]
        assert [c.participant_id for c in jm2.contenders()] == ["jm-2", "jm-1"]
        # Text output: the timeline, then who handed over to whom.
        r = zkha_cli("flink", "step-down", "--hosts", hosts, "--root", root)
        assert r.returncode == 0, r.stdout + r.stderr
        assert "stepped down: jm-2 -> jm-1" in r.stdout, r.stdout
        jm1.wait(5)
        # Alone: refused, nothing changes.
        jm2.close()
        r = zkha_cli("flink", "step-down", "--hosts", hosts, "--root", root)
        assert r.returncode == 2 and "no standby" in r.stdout, r.stdout + r.stderr
        assert jm1.is_leader
        with pytest.raises(zkha.InvalidArgumentError, match="no standby"):
            a.step_down(latch)


def test_flink_config_cli(hosts: str, path: str, tmp_path: Path) -> None:
    store = f"{path}/zkha-config/c1"
    where = ["--hosts", hosts, "--store", store]
    first = "# the first version\njobmanager.rpc.address: jm\ntaskmanager.numberOfTaskSlots: 2\n"
    conf = tmp_path / "config.yaml"
    conf.write_text(first)

    def config(*args: str) -> subprocess.CompletedProcess[str]:
        return zkha_cli("flink", "config", *args, *where)

    r = config("push", str(conf), "--note", "first", "--yes", "--json")
    assert r.returncode == 0, r.stdout + r.stderr
    assert json.loads(r.stdout)["version"] == 1
    # Without --yes and no terminal to ask on: refused, nothing written.
    r = config("push", str(conf), "--note", "again")
    assert r.returncode == 2 and "--yes" in r.stdout + r.stderr, r.stdout + r.stderr
    for text, why in [
        ("a: [unclosed\n", "not valid YAML"),
        ("high-availability.zookeeper.client.session-timeout: soon\n", "soon"),
        ("security.ssl.rest.keystore-password: hunter2\n", "looks secret"),
    ]:
        bad = tmp_path / "config.yaml"
        bad.write_text(text)
        r = config("push", str(bad), "--note", "bad", "--yes")
        assert r.returncode == 2 and why in r.stdout, (text, r.stdout + r.stderr)
    # Secret markers of the team's own keys: refused in clear with them, not without.
    cred = tmp_path / "cred.yaml"
    cred.write_text(first + "my.service.credential: abc\n")
    markers = ",".join([*zkha.flink.DEFAULT_SECRET_MARKERS, "credential"])
    r = config("push", str(cred), "--note", "cred", "--yes", "--secret-markers", markers)
    assert r.returncode == 2 and "my.service.credential looks secret" in r.stdout, r.stdout
    r = config("push", str(cred), "--note", "cred", "--yes", "--secret-markers", "pass word")
    assert r.returncode == 2 and '"pass word"' in r.stdout, r.stdout + r.stderr
    with zkha.Client(hosts, session_timeout=6) as c:
        s = zkha.flink.ConfigStore(c, store)
        with pytest.raises(zkha.ConfigError, match="my.service.credential"):
            s.push("base", cred.read_text(), "cred", secret_markers=["credential"])
        with pytest.raises(zkha.ConfigError, match="my.service.credential"):
            s.preview("base", cred.read_text(), secret_markers="token, credential")
        assert s.current() is not None and s.current()["version"] == 1, "nothing written"
    conf.write_text(first.replace("Slots: 2", "Slots: 4"))
    r = config("push", str(conf), "--note", "more slots", "--yes", "--json")
    assert json.loads(r.stdout)["changes"] == [
        {"key": "taskmanager.numberOfTaskSlots", "before": "2", "after": "4"}
    ]
    out = tmp_path / "conf"
    r = config("pull", "--role", "taskmanager", "--to", str(out))
    assert r.returncode == 0, r.stdout + r.stderr
    pulled = (out / "config.yaml").read_text()
    assert '"taskmanager.numberOfTaskSlots": "4"' in pulled
    assert '"high-availability.zkha.config.version": "2"' in pulled
    assert '"high-availability.zkha.config.role": "taskmanager"' in pulled
    assert (out / "config.yaml").stat().st_mode & 0o077 == 0, "owner-only: secrets inside"
    r = config("history", "--json")
    assert [h["version"] for h in json.loads(r.stdout)["history"]] == [2, 1]
    r = config("diff", "--json")
    assert json.loads(r.stdout)["changes"][0]["after"] == "4"
    # An overlay comes and goes as its own versions; the base's value shows again.
    tm = tmp_path / "tm.yaml"
    tm.write_text("taskmanager.numberOfTaskSlots: 6\n")
    r = config("push", str(tm), "--role", "taskmanager", "--note", "tm", "--yes", "--json")
    assert json.loads(r.stdout)["version"] == 3, r.stdout + r.stderr
    r = config("remove", "--note", "no base")
    assert r.returncode == 2 and "--role or --host" in r.stderr, r.stdout + r.stderr
    r = config("remove", "--role", "taskmanager")
    assert r.returncode == 2 and "--yes" in r.stdout + r.stderr, "asks, no terminal"
    r = config("remove", "--role", "taskmanager", "--yes", "--json")
    assert r.returncode == 0, r.stdout + r.stderr
    assert json.loads(r.stdout) == {
        "version": 4,
        "changed": "removed role:taskmanager",
        "keys": ["taskmanager.numberOfTaskSlots"],
    }
    r = config("remove", "--role", "taskmanager", "--yes")
    assert r.returncode == 2 and "no overlay role:taskmanager" in r.stdout, r.stdout + r.stderr
    r = config("pull", "--role", "taskmanager", "--to", str(out))
    assert '"taskmanager.numberOfTaskSlots": "4"' in (out / "config.yaml").read_text()
    r = config("rollback", "1")
    assert r.returncode == 2 and "--yes" in r.stdout + r.stderr, "asks, no terminal"
    r = config("rollback", "1", "--yes", "--json")
    assert json.loads(r.stdout)["version"] == 5
    with zkha.Client(hosts, session_timeout=6) as c:
        current = zkha.flink.ConfigStore(c, store).current()
        assert current is not None and current["base"] == first, "byte for byte"
    r = config("status")
    assert r.returncode == 0 and "current version 5" in r.stdout, r.stdout
    # A key Flink does not know: a warning, and pushed all the same (plugin keys are open).
    conf.write_text(first + "taskmanager.numberOfTaskSlot: 3\n")
    r = config("push", str(conf), "--note", "typo", "--yes", "--json", "--flink-version", "1.20")
    assert r.returncode == 0, r.stdout + r.stderr
    assert json.loads(r.stdout)["unknown_keys"] == ["taskmanager.numberOfTaskSlot"]
    assert "taskmanager.numberOfTaskSlot is not a Flink 1.20 key" in r.stderr, r.stderr


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_lock_stops_child_on_signal(hosts: str, path: str, sig: int) -> None:
    p = spawn("lock", path, "--hosts", hosts, "--json", "--", "sleep", "60")
    try:
        ev = read_event(p, "acquired")
        os.kill(p.pid, sig)
        p.wait(10)
        wait_gone(ev["pid"])
    finally:
        kill_group(p)


def test_lock_stops_child_when_the_lock_is_lost(client: zkha.Client, hosts: str, path: str) -> None:
    p = spawn("lock", path, "--hosts", hosts, "--json", "--grace", "2", "--", "sleep", "60")
    try:
        ev = read_event(p, "acquired")
        for n in client.children(path) or []:  # someone deletes the lock node
            client.delete(f"{path}/{n}")
        assert read_event(p, "lost")["reason"] == "node_deleted"
        assert p.wait(10) == 3
        wait_gone(ev["pid"])
    finally:
        kill_group(p)


def test_elect_stops_its_child_when_the_lease_runs_out(ensemble) -> None:
    """A real fault: the leader's connection is blackholed; once the lease runs out the
    leadership is revoked and `zkha elect` stops its command."""
    proxy = ensemble.proxy()
    path = f"/pytest/lease-{os.getpid()}-{time.monotonic_ns()}"
    p = spawn(
        "elect", path, "--hosts", proxy.hosts, "--session-timeout", "4", "--json",
        "--grace", "1", "--", "sleep", "60",
    )  # fmt: skip
    try:
        child = read_event(p, "granted")["pid"]
        t0 = time.monotonic()
        proxy.blackhole()
        ev = read_event(p, "revoked", timeout=15)
        assert ev["reason"] in ("lease_expired", "session_expired")
        t_revoke = time.monotonic() - t0
        assert t_revoke < 8
        wait_gone(child)
        assert p.wait(10) == 3
        t_exit = time.monotonic() - t0
        print(f"revoked after {t_revoke:.2f} s, exited after {t_exit:.2f} s")
        assert t_exit < t_revoke + 5  # closing on a dead connection is bounded (--close-timeout)
    finally:
        proxy.heal()
        kill_group(p)

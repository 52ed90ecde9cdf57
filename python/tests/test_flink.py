"""The Flink view on bytes written by a real Flink 2.3.0 run (built-in ZooKeeper HA), stored
under a fresh root exactly where Flink put them."""

from __future__ import annotations

from pathlib import Path

import pytest

import zkha
import zkha.flink

FIX = Path(__file__).resolve().parents[2] / "core" / "tests" / "fixtures"
JOB = "689f4a2104595f78f8552e76fa3f059d"


def fixture(name: str) -> bytes:
    for d in (FIX, FIX / "flink-2.3.0"):
        if (d / name).exists():
            return (d / name).read_bytes()
    raise FileNotFoundError(name)


def write_flink_layout(client: zkha.Client, root: str) -> None:
    """The znodes of the Flink run (see core/tests/fixtures/flink-2.3.0/README.md)."""
    for comp in ("dispatcher", "resource_manager", "rest_server", f"job-{JOB}"):
        client.put(
            f"{root}/leader/{comp}/connection_info",
            fixture(f"flink_e2e_leader_{comp}_connection_info.bin"),
        )
    client.put(
        f"{root}/execution-plans/{JOB}",
        fixture(f"flink_e2e_execution-plans_{JOB}.bin"),
    )
    client.put(
        f"{root}/jobs/{JOB}/checkpoints/0000000000000000003",
        fixture(f"flink_e2e_jobs_{JOB}_checkpoints_0000000000000000003.bin"),
    )
    client.put(
        f"{root}/jobs/{JOB}/checkpoint_id_counter",
        fixture(f"flink_e2e_jobs_{JOB}_checkpoint_id_counter.bin"),
    )


def write_config(tmp_path: Path, hosts: str, path_root: str, cluster_id: str = "/e2e") -> Path:
    """A Flink config.yaml for built-in ZooKeeper HA on ``hosts`` under ``path_root``."""
    cfg = tmp_path / "config.yaml"
    cfg.write_text(
        "high-availability.type: zookeeper\n"
        f"high-availability.zookeeper.quorum: {hosts}\n"
        f"high-availability.zookeeper.path.root: {path_root}\n"
        f"high-availability.cluster-id: {cluster_id}\n"
        "high-availability.storageDir: file:///tmp/ha\n"
    )
    return cfg


@pytest.fixture
def flink_root(client: zkha.Client, path: str) -> str:
    root = f"{path}/flink/e2e"
    write_flink_layout(client, root)
    return root


def test_view_of_a_real_flink_layout(client: zkha.Client, flink_root: str) -> None:
    cluster = zkha.flink.Cluster(client, flink_root)
    leaders = cluster.leaders()
    assert set(leaders) == {"dispatcher", "resource_manager", "rest_server"}
    assert leaders["rest_server"] is not None
    assert leaders["rest_server"].address == "http://127.0.0.1:28081"
    disp = leaders["dispatcher"]
    assert disp is not None and disp.address.startswith("pekko")
    assert len(disp.leader_session_id) == 36
    assert cluster.jobs() == [JOB]
    assert cluster.job_leader(JOB) is not None
    cps = cluster.checkpoints(JOB)
    assert [c.id for c in cps] == [3]
    latest = cluster.latest_checkpoint(JOB)
    assert latest == cps[0]
    assert latest.location == "file:/opt/flink-demo/ha/e2e/completedCheckpoint76442a50ab4b"
    assert latest.state_size == 5913
    assert cluster.checkpoint_counter(JOB) == 4  # the next checkpoint id
    plan = cluster.execution_plan(JOB)
    assert plan is not None and "submittedExecutionPlan" in plan
    st = cluster.status()
    assert st["jobs"][JOB]["latest_checkpoint"]["id"] == 3


def test_view_of_zkha_written_data(client: zkha.Client, path: str) -> None:
    """zkha's own writers: leader info through the connection-info encoder, the counter and the
    pointer store (what the plugin uses), with a pointer as Flink serializes it."""
    root = f"{path}/flink/default"
    sid = "2f1c3e64-2c59-4ad3-9b55-7e1a0b8c6d5e"
    client.put(
        f"{root}/leader/dispatcher/connection_info",
        zkha._zkha.encode_connection_info("pekko://flink@10.0.0.1:6123/user/rpc/dispatcher_1", sid),
    )
    c = client.counter(f"{root}/jobs/{JOB}/checkpoint_id_counter", initial=1)
    c.get_and_increment()
    store = client.pointer_store(f"{root}/jobs/{JOB}/checkpoints")
    store.add_and_lock(
        "0000000000000000001",
        fixture(f"flink_e2e_jobs_{JOB}_checkpoints_0000000000000000003.bin"),
    )
    client.put(f"{root}/execution-plans/{JOB}", fixture(f"flink_e2e_execution-plans_{JOB}.bin"))
    cluster = zkha.flink.Cluster(client, root)
    d = cluster.leaders()["dispatcher"]
    assert d is not None and d.leader_session_id == sid
    assert cluster.leaders()["rest_server"] is None
    assert cluster.checkpoint_counter(JOB) == 2
    assert [x.id for x in cluster.checkpoints(JOB)] == [1]
    store.release_all()


def test_corrupt_pointer_raises(client: zkha.Client, path: str) -> None:
    root = f"{path}/flink/default"
    client.put(f"{root}/jobs/{JOB}/checkpoints/0000000000000000001", b"garbage")
    cluster = zkha.flink.Cluster(client, root)
    with pytest.raises(zkha.CorruptError, match="not a Flink state handle pointer"):
        cluster.checkpoints(JOB)
    with pytest.raises(zkha.CorruptError):
        zkha.flink.decode_state_handle(b"\xac\xed\x00\x05")


def test_cluster_from_flink_config(hosts: str, client: zkha.Client, path: str, tmp_path) -> None:
    root = f"{path}/flink/e2e"
    write_flink_layout(client, root)
    cfg = write_config(tmp_path, hosts, f"{path}/flink")
    with zkha.flink.Cluster.from_flink_config(str(cfg)) as cluster:
        assert cluster.root == root
        assert cluster.jobs() == [JOB]


@pytest.mark.asyncio
async def test_async_view(hosts: str, client: zkha.Client, flink_root: str) -> None:
    import zkha.aio

    async with zkha.aio.connect(hosts, session_timeout=6) as c:
        cluster = zkha.flink.AsyncCluster(c, flink_root)
        assert await cluster.jobs() == [JOB]
        latest = await cluster.latest_checkpoint(JOB)
        assert latest is not None and latest.id == 3
        assert await cluster.checkpoint_counter(JOB) == 4
        leaders = await cluster.leaders()
        assert leaders["rest_server"] is not None
        st = await cluster.status()
        assert st == zkha.flink.Cluster(client, flink_root).status()

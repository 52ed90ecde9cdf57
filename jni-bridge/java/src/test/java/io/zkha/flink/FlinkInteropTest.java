package io.zkha.flink;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import java.util.UUID;
import java.util.concurrent.TimeUnit;

import io.zkha.jni.Native;
import org.apache.flink.api.java.tuple.Tuple2;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.runtime.checkpoint.CheckpointIDCounter;
import org.apache.flink.runtime.highavailability.zookeeper.CuratorFrameworkWithUnhandledErrorListener;
import org.apache.flink.runtime.leaderelection.DefaultLeaderElectionService;
import org.apache.flink.runtime.leaderelection.LeaderElection;
import org.apache.flink.runtime.leaderelection.ZooKeeperLeaderElectionDriverFactory;
import org.apache.flink.runtime.leaderretrieval.DefaultLeaderRetrievalService;
import org.apache.flink.runtime.persistence.IntegerResourceVersion;
import org.apache.flink.runtime.persistence.StateHandleStore;
import org.apache.flink.runtime.state.RetrievableStateHandle;
import org.apache.flink.runtime.util.ZooKeeperUtils;
import org.apache.flink.shaded.curator5.org.apache.curator.framework.CuratorFramework;
import org.junit.jupiter.api.Test;

/**
 * Byte-level compatibility: what zkha writes, Flink's own built-in ZooKeeper HA classes read
 * (from the flink-runtime jar), and the other way round — leader information, checkpoint
 * entries and the checkpoint ID counter — and both latches share one latch path.
 */
class FlinkInteropTest extends RealZooKeeperTest {
    private static CuratorFrameworkWithUnhandledErrorListener curator(Configuration conf) {
        return ZooKeeperUtils.startCuratorFramework(conf, e -> {
            throw new AssertionError("Flink's Curator failed", e);
        });
    }

    /** Leads with zkha so that fenced writes go through. */
    private static LeaderElection lead(ZkhaClient client, DefaultLeaderElectionService service, ZkhaHaTest.Contender c)
            throws Exception {
        LeaderElection e = service.createLeaderElection("dispatcher");
        e.startLeaderElection(c);
        c.next();
        return e;
    }

    @Test
    void leaderInformationBothWaysAndOneSharedLatch() throws Exception {
        Configuration conf = zk.flinkConfig(storage);
        try (ZkhaClient client = ZkhaClient.connect(conf);
                CuratorFrameworkWithUnhandledErrorListener flink = curator(conf)) {
            // zkha leads and publishes; Flink's own retrieval driver reads it.
            DefaultLeaderElectionService zkhaService = new DefaultLeaderElectionService(new ZkhaLeaderElectionDriverFactory(client));
            ZkhaHaTest.Contender zkhaContender = new ZkhaHaTest.Contender();
            LeaderElection zkhaElection = zkhaService.createLeaderElection("dispatcher");
            zkhaElection.startLeaderElection(zkhaContender);
            UUID zkhaSession = (UUID) zkhaContender.next();
            zkhaElection.confirmLeadershipAsync(zkhaSession, "pekko://zkha").get(10, TimeUnit.SECONDS);
            ZkhaHaTest.Retrieval flinkSees = new ZkhaHaTest.Retrieval();
            DefaultLeaderRetrievalService flinkRetrieval = new DefaultLeaderRetrievalService(
                    ZooKeeperUtils.createLeaderRetrievalDriverFactory(flink.asCuratorFramework(), "/leader/dispatcher", conf));
            flinkRetrieval.start(flinkSees);
            String got = flinkSees.next();
            while (got.equals("<none>")) {
                got = flinkSees.next();
            }
            assertEquals("pekko://zkha@" + zkhaSession, got, "Flink decodes zkha's connection_info");

            // Flink's built-in election joins the same latch: it waits behind zkha.
            DefaultLeaderElectionService flinkService = new DefaultLeaderElectionService(
                    new ZooKeeperLeaderElectionDriverFactory(ZooKeeperUtils.useNamespaceAndEnsurePath(flink.asCuratorFramework(), "/leader")));
            ZkhaHaTest.Contender flinkContender = new ZkhaHaTest.Contender();
            LeaderElection flinkElection = flinkService.createLeaderElection("dispatcher");
            flinkElection.startLeaderElection(flinkContender);
            Thread.sleep(500);
            assertTrue(flinkContender.events.isEmpty(), "never two leaders on one latch");

            // zkha steps down: Flink's built-in JobManager takes over and publishes; zkha reads it.
            zkhaElection.close();
            UUID flinkSession = (UUID) flinkContender.next();
            flinkElection.confirmLeadershipAsync(flinkSession, "pekko://builtin").get(10, TimeUnit.SECONDS);
            ZkhaHaTest.Retrieval zkhaSees = new ZkhaHaTest.Retrieval();
            DefaultLeaderRetrievalService zkhaRetrieval = new DefaultLeaderRetrievalService(
                    new ZkhaLeaderRetrievalDriver.Factory(client, client.path("leader/dispatcher/connection_info")));
            zkhaRetrieval.start(zkhaSees);
            String z = zkhaSees.next();
            while (!z.startsWith("pekko://builtin")) {
                z = zkhaSees.next();
            }
            assertEquals("pekko://builtin@" + flinkSession, z, "zkha decodes Flink's connection_info");
            zkhaRetrieval.stop();
            flinkRetrieval.stop();
            flinkElection.close();
            flinkService.close();
            zkhaService.close();
        }
    }

    @Test
    void checkpointEntriesAndCounterBothWays() throws Exception {
        Configuration conf = zk.flinkConfig(storage);
        try (ZkhaClient client = ZkhaClient.connect(conf);
                CuratorFrameworkWithUnhandledErrorListener flink = curator(conf)) {
            DefaultLeaderElectionService service = new DefaultLeaderElectionService(new ZkhaLeaderElectionDriverFactory(client));
            LeaderElection election = lead(client, service, new ZkhaHaTest.Contender());
            CuratorFramework cf = flink.asCuratorFramework();

            // Checkpoint entries: zkha writes, Flink's ZooKeeperStateHandleStore reads, and back.
            StateHandleStore<Long, IntegerResourceVersion> ours =
                    new ZkhaStateHandleStore<>(client, client.path("jobs/j/checkpoints"), new TestHandle.Helper());
            StateHandleStore<Long, IntegerResourceVersion> theirs =
                    ZooKeeperUtils.createZooKeeperStateHandleStore(cf, "/jobs/j/checkpoints", new TestHandle.Helper());
            ours.addAndLock("/0000000000000000007", 7L);
            List<Tuple2<RetrievableStateHandle<Long>, String>> read = theirs.getAllAndLock();
            assertEquals(1, read.size());
            assertEquals("/0000000000000000007", read.get(0).f1);
            assertEquals(7L, read.get(0).f0.retrieveState());
            theirs.addAndLock("/0000000000000000008", 8L);
            assertEquals(8L, ours.getAndLock("/0000000000000000008").retrieveState());
            // Both hold locks on 7: Flink releases, zkha removes.
            assertFalse(theirs.releaseAndTryRemove("/0000000000000000007"));
            assertTrue(ours.releaseAndTryRemove("/0000000000000000007"));
            assertFalse(theirs.exists("/0000000000000000007").isExisting());

            // The checkpoint ID counter: same 4-byte node.
            ZkhaCheckpointIDCounter zkhaCounter = new ZkhaCheckpointIDCounter(client, client.path("jobs/j/checkpoint_id_counter"));
            zkhaCounter.start();
            assertEquals(1, zkhaCounter.getAndIncrement());
            assertEquals(2, zkhaCounter.getAndIncrement());
            CheckpointIDCounter flinkCounter = ZooKeeperUtils.createCheckpointIDCounter(ZooKeeperUtils.useNamespaceAndEnsurePath(cf, "/jobs/j"));
            flinkCounter.start();
            assertEquals(3, flinkCounter.get(), "Flink reads zkha's counter");
            assertEquals(3, flinkCounter.getAndIncrement());
            assertEquals(4, zkhaCounter.get(), "zkha reads Flink's counter");
            byte[] raw = Native.getData(client.id, client.path("jobs/j/checkpoint_id_counter"));
            assertEquals(4, raw.length);
            flinkCounter.shutdown(org.apache.flink.api.common.JobStatus.SUSPENDED).get();
            election.close();
            service.close();
        }
    }
}

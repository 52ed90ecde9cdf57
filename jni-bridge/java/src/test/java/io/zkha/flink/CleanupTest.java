package io.zkha.flink;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import java.util.UUID;
import java.util.concurrent.TimeUnit;

import io.zkha.jni.Native;
import org.apache.flink.api.common.JobID;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.configuration.HighAvailabilityOptions;
import org.apache.flink.runtime.checkpoint.CheckpointIDCounter;
import org.apache.flink.runtime.highavailability.zookeeper.CuratorFrameworkWithUnhandledErrorListener;
import org.apache.flink.runtime.leaderelection.DefaultLeaderElectionService;
import org.apache.flink.runtime.leaderelection.LeaderElection;
import org.apache.flink.runtime.leaderelection.ZooKeeperLeaderElectionDriverFactory;
import org.apache.flink.runtime.util.ZooKeeperUtils;
import org.apache.flink.shaded.curator5.org.apache.curator.framework.CuratorFramework;
import org.junit.jupiter.api.Test;

/** zkha leaves no more znodes behind than Flink's built-in ZooKeeper HA. */
class CleanupTest extends RealZooKeeperTest {
    /** A JobMaster's election ends: its {@code leader/job-<id>} node goes, as with built-in HA. */
    @Test
    void aComponentsLeaderNodeGoesWithItsLeaderInformation() throws Exception {
        JobID job = new JobID();
        String component = ZkhaHaCore.jobManager(job);

        Configuration conf = zk.flinkConfig(storage);
        try (TestServices zkha = TestServices.leading(conf);
                ZkhaClient probe = ZkhaClient.connect(conf)) {
            zkha.election.confirmLeadershipAsync(zkha.session, "pekko://dispatcher").get(10, TimeUnit.SECONDS);
            LeaderElection jobElection = zkha.services.getJobManagerLeaderElection(job);
            ZkhaHaTest.Contender jobMaster = new ZkhaHaTest.Contender();
            jobElection.startLeaderElection(jobMaster);
            UUID session = (UUID) jobMaster.next();
            jobElection.confirmLeadershipAsync(session, "pekko://jobmaster").get(10, TimeUnit.SECONDS);
            assertEquals(List.of("connection_info"), TestServices.children(probe, probe.path("leader/" + component)));
            jobElection.close();
            assertNull(TestServices.children(probe, probe.path("leader/" + component)), "zkha left leader/" + component);
            assertEquals(List.of("connection_info"), TestServices.children(probe, probe.path("leader/dispatcher")),
                    "the other components keep theirs");
        }

        // The same with Flink's built-in driver.
        Configuration builtIn = zk.flinkConfig(storage);
        try (CuratorFrameworkWithUnhandledErrorListener flink = ZooKeeperUtils.startCuratorFramework(builtIn, e -> {})) {
            CuratorFramework leader = ZooKeeperUtils.useNamespaceAndEnsurePath(flink.asCuratorFramework(), "/leader");
            DefaultLeaderElectionService service = new DefaultLeaderElectionService(new ZooKeeperLeaderElectionDriverFactory(leader));
            LeaderElection jobElection = service.createLeaderElection(component);
            ZkhaHaTest.Contender jobMaster = new ZkhaHaTest.Contender();
            jobElection.startLeaderElection(jobMaster);
            UUID session = (UUID) jobMaster.next();
            jobElection.confirmLeadershipAsync(session, "pekko://jobmaster").get(10, TimeUnit.SECONDS);
            assertNotNull(leader.checkExists().forPath("/" + component + "/connection_info"));
            jobElection.close();
            assertNull(leader.checkExists().forPath("/" + component), "built-in HA removes it too");
            service.close();
        }
    }

    /**
     * {@code cleanupAllData} (a cluster that ends for good): the cluster's root and the parents
     * it leaves empty go, as Flink's built-in HA does it; another cluster's nodes stay.
     */
    @Test
    void cleanupRemovesTheClusterAndTheParentsItLeavesEmpty() throws Exception {
        String top = "/cleanup-" + UUID.randomUUID();
        Configuration a = zk.flinkConfig(storage);
        a.set(HighAvailabilityOptions.HA_ZOOKEEPER_ROOT, top + "/flink");
        a.set(HighAvailabilityOptions.HA_CLUSTER_ID, "/a");
        Configuration b = a.clone();
        b.set(HighAvailabilityOptions.HA_CLUSTER_ID, "/b");
        try (ZkhaClient probe = ZkhaClient.connect(a)) {
            TestServices first = TestServices.leading(a);
            TestServices second = TestServices.leading(b);
            assertEquals(List.of("a", "b"), sorted(TestServices.children(probe, top + "/flink")));

            first.election.close();
            first.services.cleanupAllData();
            first.services.close();
            assertEquals(List.of("b"), TestServices.children(probe, top + "/flink"), "the other cluster stays");

            second.election.close();
            second.services.cleanupAllData();
            second.services.close();
            assertFalse(TestServices.children(probe, "/").contains(top.substring(1)), "empty parents up to / go");
        }
    }

    /**
     * A job's global cleanup: its {@code jobs/<jobid>} (checkpoints, counter) as with built-in
     * HA, and its leader node if a JobMaster left it empty; a job whose JobMaster still leads
     * keeps its leader information, and the latch stays.
     */
    @Test
    void aJobsCleanupRemovesItsNodes() throws Exception {
        Configuration conf = zk.flinkConfig(storage);
        try (TestServices zkha = TestServices.leading(conf);
                ZkhaClient probe = ZkhaClient.connect(conf)) {
            JobID done = new JobID();
            CheckpointIDCounter counter = zkha.services.getCheckpointRecoveryFactory().createCheckpointIDCounter(done);
            counter.start();
            counter.getAndIncrement();
            TestGeneration.openCheckpointStore(zkha.services.getCheckpointRecoveryFactory(), done);
            Native.put(probe.id, probe.path("leader/" + ZkhaHaCore.jobManager(done)), new byte[0]);
            assertNotNull(TestServices.children(probe, probe.path("jobs/" + done)));

            JobID running = new JobID();
            LeaderElection jobElection = zkha.services.getJobManagerLeaderElection(running);
            ZkhaHaTest.Contender jobMaster = new ZkhaHaTest.Contender();
            jobElection.startLeaderElection(jobMaster);
            UUID session = (UUID) jobMaster.next();
            jobElection.confirmLeadershipAsync(session, "pekko://jobmaster").get(10, TimeUnit.SECONDS);

            zkha.services.globalCleanupAsync(done, Runnable::run).get(10, TimeUnit.SECONDS);
            zkha.services.globalCleanupAsync(running, Runnable::run).get(10, TimeUnit.SECONDS);
            assertNull(TestServices.children(probe, probe.path("jobs/" + done)));
            List<String> leader = TestServices.children(probe, probe.path("leader"));
            assertFalse(leader.contains(ZkhaHaCore.jobManager(done)), leader.toString());
            assertTrue(leader.contains(ZkhaHaCore.jobManager(running)), leader.toString());
            assertTrue(leader.contains("latch"), leader.toString());
            jobElection.close();
        }
    }

    private static List<String> sorted(List<String> l) {
        assertNotNull(l);
        l.sort(null);
        return l;
    }
}

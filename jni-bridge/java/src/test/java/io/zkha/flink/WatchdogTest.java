package io.zkha.flink;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;
import java.util.UUID;

import org.apache.flink.api.common.JobID;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.configuration.HighAvailabilityOptions;
import org.apache.flink.runtime.highavailability.ClientHighAvailabilityServices;
import org.apache.flink.runtime.highavailability.HighAvailabilityServices;
import org.apache.flink.runtime.leaderelection.LeaderElection;
import org.apache.flink.runtime.leaderretrieval.LeaderRetrievalService;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/** The JVM liveness watchdog: where it is armed, and what Flink hears when it fires. */
class WatchdogTest extends RealZooKeeperTest {
    @AfterEach
    void pingAgain() {
        ZkhaClient.holdWatchdogPings = false;
    }

    /** True while a watchdog of the cluster of {@code conf} is armed in this JVM. */
    private static boolean armed(Configuration conf) {
        String cluster = conf.get(HighAvailabilityOptions.HA_CLUSTER_ID);
        return Thread.getAllStackTraces().keySet().stream()
                .anyMatch(t -> t.isAlive() && t.getName().startsWith("zkha-watchdog ") && t.getName().endsWith(cluster));
    }

    private static void await(boolean want, Configuration conf) throws InterruptedException {
        long deadline = System.nanoTime() + Duration.ofSeconds(5).toNanos();
        while (armed(conf) != want && System.nanoTime() < deadline) {
            Thread.sleep(20);
        }
    }

    /**
     * TaskManagers and clients only follow leaders: no watchdog (it would close their session
     * for a GC pause that costs nobody leadership). A JobManager's is armed while it contends.
     */
    @Test
    void armedOnlyWhileContendingForLeadership() throws Exception {
        Configuration conf = zk.flinkConfig(storage);
        ZkhaHaServicesFactory factory = new ZkhaHaServicesFactory();

        HighAvailabilityServices services = factory.createHAServices(conf, Runnable::run);
        LeaderRetrievalService rm = services.getResourceManagerLeaderRetriever();
        rm.start(new ZkhaHaTest.Retrieval());
        LeaderRetrievalService jm = services.getJobManagerLeaderRetriever(new JobID(), "");
        jm.start(new ZkhaHaTest.Retrieval());
        Thread.sleep(300);
        assertFalse(armed(conf), "a TaskManager's services arm no watchdog");

        LeaderElection election = services.getDispatcherLeaderElection();
        election.startLeaderElection(new ZkhaHaTest.Contender());
        await(true, conf);
        assertTrue(armed(conf), "a JobManager's election arms it");
        election.close();
        await(false, conf);
        assertFalse(armed(conf), "disarmed with the election");
        rm.stop();
        jm.stop();
        services.close();

        ClientHighAvailabilityServices client = factory.createClientHAServices(conf);
        client.getClusterRestEndpointLeaderRetriever().start(new ZkhaHaTest.Retrieval());
        Thread.sleep(300);
        assertFalse(armed(conf), "a client's services arm no watchdog");
        client.close();
    }

    /**
     * The JVM stops answering (held pings stand for a long GC pause): leadership goes to the
     * standby, and the leader's contenders get the error through Flink's fatal-error path.
     */
    @Test
    void whenItFiresTheContendersGetTheErrorAndTheStandbyLeads() throws Exception {
        Configuration conf = zk.flinkConfig(storage);
        Configuration standbyConf = conf.clone();
        conf.set(ZkhaClient.WATCHDOG_TIMEOUT, Duration.ofMillis(500));
        TestServices leader = TestServices.leading(conf);
        HighAvailabilityServices standby = new ZkhaHaServicesFactory().createHAServices(standbyConf, Runnable::run);
        LeaderElection standbyElection = standby.getDispatcherLeaderElection();
        ZkhaHaTest.Contender standbyContender = new ZkhaHaTest.Contender();
        standbyElection.startLeaderElection(standbyContender);
        Thread.sleep(300);
        assertTrue(standbyContender.events.isEmpty());

        ZkhaClient.holdWatchdogPings = true;
        Thread.sleep(1500);
        ZkhaClient.holdWatchdogPings = false;

        Object ev = leader.contender.next();
        while (!(ev instanceof Exception)) {
            ev = leader.contender.next();
        }
        Throwable cause = ((Exception) ev).getCause();
        assertNotNull(cause, ev.toString());
        assertTrue(cause.getMessage().contains("zkha watchdog") && cause.getMessage().contains("watchdog.timeout"),
                cause.getMessage());
        assertInstanceOf(UUID.class, standbyContender.next(), "the standby leads");

        standbyElection.close();
        standby.close();
        leader.election.close();
        leader.services.close();
    }
}

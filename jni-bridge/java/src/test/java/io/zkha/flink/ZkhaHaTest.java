package io.zkha.flink;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;

import io.zkha.jni.ConfigException;
import io.zkha.jni.Native;
import io.zkha.jni.NotLeaderException;
import org.apache.flink.api.java.tuple.Tuple2;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.configuration.HighAvailabilityOptions;
import org.apache.flink.runtime.leaderelection.DefaultLeaderElectionService;
import org.apache.flink.runtime.leaderelection.LeaderContender;
import org.apache.flink.runtime.leaderelection.LeaderElection;
import org.apache.flink.runtime.leaderretrieval.DefaultLeaderRetrievalService;
import org.apache.flink.runtime.leaderretrieval.LeaderRetrievalListener;
import org.apache.flink.runtime.persistence.IntegerResourceVersion;
import org.apache.flink.runtime.persistence.PossibleInconsistentStateException;
import org.apache.flink.runtime.persistence.StateHandleStore;
import org.apache.flink.runtime.state.RetrievableStateHandle;
import org.junit.jupiter.api.Test;

/** The plugin's drivers and stores against a real ZooKeeper, through Flink's own services. */
class ZkhaHaTest extends RealZooKeeperTest {
    /** Records what Flink's election service tells a contender. */
    static final class Contender implements LeaderContender {
        final BlockingQueue<Object> events = new LinkedBlockingQueue<>();
        volatile UUID session;

        @Override
        public void grantLeadership(UUID id) {
            session = id;
            events.add(id);
        }

        @Override
        public void revokeLeadership() {
            session = null;
            events.add("revoked");
        }

        @Override
        public void handleError(Exception e) {
            events.add(e);
        }

        Object next() throws InterruptedException {
            Object e = events.poll(10, TimeUnit.SECONDS);
            assertNotNull(e, "no election event within 10 s");
            return e;
        }
    }

    /** Records what Flink's retrieval service reports. */
    static final class Retrieval implements LeaderRetrievalListener {
        final BlockingQueue<String> addresses = new LinkedBlockingQueue<>();

        @Override
        public void notifyLeaderAddress(String address, UUID sessionId) {
            addresses.add(address == null ? "<none>" : address + "@" + sessionId);
        }

        @Override
        public void handleError(Exception e) {
            addresses.add("error: " + e);
        }

        String next() throws InterruptedException {
            String a = addresses.poll(10, TimeUnit.SECONDS);
            assertNotNull(a, "no leader address within 10 s");
            return a;
        }
    }

    /** A client's process leading through Flink's election service (fenced writes need it). */
    static final class Leading implements AutoCloseable {
        private final DefaultLeaderElectionService service;
        private final LeaderElection election;

        Leading(ZkhaClient client) throws Exception {
            service = new DefaultLeaderElectionService(new ZkhaLeaderElectionDriverFactory(client));
            election = service.createLeaderElection("dispatcher");
            Contender contender = new Contender();
            election.startLeaderElection(contender);
            contender.next();
        }

        @Override
        public void close() throws Exception {
            election.close();
            service.close();
        }
    }

    @Test
    void grantRevokeHandOverAndRetrieval() throws Exception {
        Configuration conf = zk.flinkConfig(storage);
        try (ZkhaClient c1 = ZkhaClient.connect(conf);
                ZkhaClient c2 = ZkhaClient.connect(conf);
                ZkhaClient reader = ZkhaClient.connect(conf)) {
            DefaultLeaderElectionService s1 = new DefaultLeaderElectionService(new ZkhaLeaderElectionDriverFactory(c1));
            DefaultLeaderElectionService s2 = new DefaultLeaderElectionService(new ZkhaLeaderElectionDriverFactory(c2));
            Contender a = new Contender();
            Contender b = new Contender();
            LeaderElection e1 = s1.createLeaderElection("dispatcher");
            e1.startLeaderElection(a);
            UUID first = (UUID) a.next();
            LeaderElection e2 = s2.createLeaderElection("dispatcher");
            e2.startLeaderElection(b);

            Retrieval seen = new Retrieval();
            DefaultLeaderRetrievalService retrieval = new DefaultLeaderRetrievalService(
                    new ZkhaLeaderRetrievalDriver.Factory(reader, reader.path("leader/dispatcher/connection_info")));
            retrieval.start(seen);
            e1.confirmLeadershipAsync(first, "pekko://one").get(10, TimeUnit.SECONDS);
            String got = seen.next();
            if (got.equals("<none>")) {
                got = seen.next();
            }
            assertEquals("pekko://one@" + first, got);
            assertTrue(b.events.isEmpty(), "only one leader");

            // Hand-over: the leader's election closes, the other is granted and publishes.
            e1.close();
            UUID second = (UUID) b.next();
            assertNotEquals(first, second);
            e2.confirmLeadershipAsync(second, "pekko://two").get(10, TimeUnit.SECONDS);
            String now = seen.next();
            while (!now.startsWith("pekko://two")) {
                now = seen.next();
            }
            assertEquals("pekko://two@" + second, now);

            // Deleting the leader information: retrieval sees no leader.
            e2.close();
            assertEquals("<none>", seen.next());
            retrieval.stop();
            s1.close();
            s2.close();
        }
    }

    @Test
    void stateHandleStoreSemantics() throws Exception {
        Configuration conf = zk.flinkConfig(storage);
        try (ZkhaClient c1 = ZkhaClient.connect(conf);
                ZkhaClient c2 = ZkhaClient.connect(conf)) {
            // Fencing: writes need this process's leadership.
            Leading e = new Leading(c1);
            String root = c1.path("jobs/j1/checkpoints");
            StateHandleStore<Long, IntegerResourceVersion> one = new ZkhaStateHandleStore<>(c1, root, new TestHandle.Helper());
            StateHandleStore<Long, IntegerResourceVersion> two = new ZkhaStateHandleStore<>(c2, root, new TestHandle.Helper());

            RetrievableStateHandle<Long> h = one.addAndLock("/0000000000000000001", 1L);
            assertEquals(1L, h.retrieveState());
            assertThrows(StateHandleStore.AlreadyExistException.class, () -> one.addAndLock("/0000000000000000001", 9L));
            IntegerResourceVersion v = one.exists("/0000000000000000001");
            assertTrue(v.isExisting());
            one.replace("/0000000000000000001", v, 2L);
            assertTrue(((TestHandle) h).discarded(), "the replaced handle is discarded");
            assertEquals(2L, two.getAndLock("/0000000000000000001").retrieveState());
            assertThrows(StateHandleStore.NotExistException.class, () -> two.getAndLock("/0000000000000000009"));

            // Released by one of two owners (here the one that does not lead): stays; by both:
            // removed (removal is a leader's fenced write).
            assertFalse(two.releaseAndTryRemove("/0000000000000000001"));
            assertTrue(one.exists("/0000000000000000001").isExisting());
            assertTrue(one.releaseAndTryRemove("/0000000000000000001"));
            assertFalse(two.exists("/0000000000000000001").isExisting());

            one.addAndLock("/0000000000000000002", 2L);
            one.addAndLock("/0000000000000000003", 3L);
            List<Tuple2<RetrievableStateHandle<Long>, String>> all = two.getAllAndLock();
            assertEquals(2, all.size());
            assertEquals("/0000000000000000002", all.get(0).f1);
            assertEquals(List.of("0000000000000000002", "0000000000000000003"), List.copyOf(one.getAllHandles()));

            // Marked for deletion: invisible.
            Native.deleteRecursive(c1.id, root + "/0000000000000000003/locks");
            assertFalse(two.exists("/0000000000000000003").isExisting());
            assertEquals(1, two.getAllAndLock().size());

            // No longer leader: writes are refused (fenced), nothing written.
            e.close();
            assertThrows(NotLeaderException.class, () -> one.addAndLock("/0000000000000000004", 4L));
            assertFalse(two.exists("/0000000000000000004").isExisting());
        }
    }

    /**
     * An entry whose bytes cannot be read is skipped without keeping a lock on it (as Flink's
     * ZooKeeperStateHandleStore does): else it could never be removed while this process lives.
     */
    @Test
    void getAllAndLockLetsGoOfEntriesItCannotRead() throws Exception {
        Configuration conf = zk.flinkConfig(storage);
        try (ZkhaClient c1 = ZkhaClient.connect(conf);
                ZkhaClient c2 = ZkhaClient.connect(conf)) {
            Leading e = new Leading(c1);
            String root = c1.path("jobs/j3/checkpoints");
            StateHandleStore<Long, IntegerResourceVersion> one = new ZkhaStateHandleStore<>(c1, root, new TestHandle.Helper());
            one.addAndLock("/0000000000000000001", 1L);
            long raw = Native.storeNew(c1.id, root, c1.slot);
            Native.storeAddAndLock(raw, "0000000000000000002", new byte[] {1, 2, 3});
            Native.free(raw);

            StateHandleStore<Long, IntegerResourceVersion> two = new ZkhaStateHandleStore<>(c2, root, new TestHandle.Helper());
            List<Tuple2<RetrievableStateHandle<Long>, String>> all = two.getAllAndLock();
            assertEquals(1, all.size());
            assertEquals("/0000000000000000001", all.get(0).f1);
            assertEquals(2, TestServices.children(c1, root + "/0000000000000000001/locks").size(), "read: both lock it");
            assertEquals(1, TestServices.children(c1, root + "/0000000000000000002/locks").size(),
                    "unreadable: only its writer's lock is left");
            e.close();
        }
    }

    @Test
    void aStateFileIsDeletedOnlyWhenTheWriteSurelyFailed() throws Exception {
        Configuration conf = zk.flinkConfig(storage);
        ZkhaClient c1 = ZkhaClient.connect(conf);
        try (ZkhaClient c2 = ZkhaClient.connect(conf)) {
            Leading e = new Leading(c1);
            String root = c1.path("jobs/j2/checkpoints");
            TestHandle.Helper helper = new TestHandle.Helper();
            StateHandleStore<Long, IntegerResourceVersion> one = new ZkhaStateHandleStore<>(c1, root, helper);
            StateHandleStore<Long, IntegerResourceVersion> two = new ZkhaStateHandleStore<>(c2, root, new TestHandle.Helper());
            one.addAndLock("/0000000000000000001", 1L);

            // The client closes under the writes: ZooKeeper may have applied them (Flink's
            // rule: anything but a known-safe error), so the new files are kept and Flink is
            // told the state may be inconsistent.
            c1.close();
            assertThrows(PossibleInconsistentStateException.class, () -> one.addAndLock("/0000000000000000002", 2L));
            assertFalse(helper.last.discarded(), "the file of a write that may have landed is kept");

            // Refused by the fence: nothing was written, so the file goes.
            TestHandle.Helper stale = new TestHandle.Helper();
            StateHandleStore<Long, IntegerResourceVersion> notLeader = new ZkhaStateHandleStore<>(c2, root, stale);
            assertThrows(NotLeaderException.class, () -> notLeader.addAndLock("/0000000000000000004", 4L));
            assertTrue(stale.last.discarded(), "the file of a refused write is discarded");
            assertFalse(two.exists("/0000000000000000004").isExisting());
            e.close();
        } finally {
            c1.close();
        }
    }

    @Test
    void checkpointCounterStaysMonotonicAcrossLeaderChange() throws Exception {
        Configuration conf = zk.flinkConfig(storage);
        try (ZkhaClient c1 = ZkhaClient.connect(conf);
                ZkhaClient c2 = ZkhaClient.connect(conf)) {
            DefaultLeaderElectionService s1 = new DefaultLeaderElectionService(new ZkhaLeaderElectionDriverFactory(c1));
            DefaultLeaderElectionService s2 = new DefaultLeaderElectionService(new ZkhaLeaderElectionDriverFactory(c2));
            Contender a = new Contender();
            Contender b = new Contender();
            LeaderElection e1 = s1.createLeaderElection("dispatcher");
            e1.startLeaderElection(a);
            a.next();
            LeaderElection e2 = s2.createLeaderElection("dispatcher");
            e2.startLeaderElection(b);
            ZkhaCheckpointIDCounter k1 = new ZkhaCheckpointIDCounter(c1, c1.path("jobs/j/checkpoint_id_counter"));
            k1.start();
            long last = 0;
            for (int i = 0; i < 5; i++) {
                long id = k1.getAndIncrement();
                assertTrue(id > last);
                last = id;
            }
            e1.close();
            b.next();
            assertThrows(NotLeaderException.class, k1::getAndIncrement, "the old leader cannot move the counter");
            ZkhaCheckpointIDCounter k2 = new ZkhaCheckpointIDCounter(c2, c2.path("jobs/j/checkpoint_id_counter"));
            k2.start();
            long next = k2.getAndIncrement();
            assertEquals(last + 1, next, "strictly monotonic across the change");
            e2.close();
            s1.close();
            s2.close();
        }
    }

    @Test
    void badConfigurationNamesTheKey() {
        Configuration conf = new Configuration();
        conf.set(HighAvailabilityOptions.HA_ZOOKEEPER_QUORUM, zk.connectString);
        conf.setString("high-availability.zkha.lease-margn", "1 s");
        ConfigException e = assertThrows(ConfigException.class, () -> ZkhaClient.connect(conf));
        assertTrue(e.getMessage().contains("high-availability.zkha.lease-margn"), e.getMessage());

        Configuration bad = new Configuration();
        bad.set(HighAvailabilityOptions.HA_ZOOKEEPER_QUORUM, "zk:notaport");
        ConfigException e2 = assertThrows(ConfigException.class, () -> ZkhaClient.connect(bad));
        assertTrue(e2.getMessage().contains("zk:notaport"), e2.getMessage());

        Configuration none = new Configuration();
        ConfigException e3 = assertThrows(ConfigException.class, () -> ZkhaClient.connect(none));
        assertTrue(e3.getMessage().contains("high-availability.zookeeper.quorum"), e3.getMessage());
        assertInstanceOf(RuntimeException.class, e3);
    }

    @Test
    void watchdogGivesUpLeadershipWhenTheJvmStopsAnswering() throws Exception {
        Configuration conf = zk.flinkConfig(storage);
        try (ZkhaClient c = ZkhaClient.connect(conf)) {
            long election = Native.electionJoin(c.id, c.path("leader/latch"), "frozen");
            long deadline = System.nanoTime() + Duration.ofSeconds(10).toNanos();
            while (!Native.electionHasLeadership(election)) {
                assertTrue(System.nanoTime() < deadline, "not granted");
                Thread.sleep(20);
            }
            long dog = Native.watchdogArm(c.id, 300);
            // No pings: as if the JVM were frozen in a long GC pause.
            Thread.sleep(1000);
            assertFalse(Native.electionHasLeadership(election), "leadership given up");
            assertFalse(Native.watchdogPing(dog), "the watchdog reports it fired");
            Native.free(dog);
        }
    }
}

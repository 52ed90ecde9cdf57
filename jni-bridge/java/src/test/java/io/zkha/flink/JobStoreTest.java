package io.zkha.flink;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;
import java.util.stream.Stream;

import org.apache.flink.api.common.JobID;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.configuration.HighAvailabilityOptions;
import org.apache.flink.runtime.highavailability.zookeeper.CuratorFrameworkWithUnhandledErrorListener;
import org.apache.flink.runtime.util.ZooKeeperUtils;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The job store of the Flink on the class path (1.20: {@code JobGraphStore} in
 * {@code jobgraphs/}, files {@code submittedJobGraph*}; 2.x: {@code ExecutionPlanStore} in
 * {@code execution-plans/}, files {@code submittedExecutionPlan*}): zkha's and Flink's built-in
 * one read each other's jobs, and zkha finds it where Flink's keys, deprecated ones included,
 * put it.
 */
class JobStoreTest extends RealZooKeeperTest {
    @Test
    void zkhaAndBuiltInReadEachOthersJobs() throws Exception {
        Configuration conf = zk.flinkConfig(storage);
        try (TestServices zkha = TestServices.leading(conf);
                CuratorFrameworkWithUnhandledErrorListener flink = ZooKeeperUtils.startCuratorFramework(conf, e -> {})) {
            TestJobStore ours = TestGeneration.zkhaJobStore(zkha.services);
            BlockingQueue<String> events = new LinkedBlockingQueue<>();
            ours.start(id -> events.add("added " + id), id -> events.add("removed " + id));
            TestJobStore theirs = TestGeneration.builtInJobStore(flink.asCuratorFramework(), conf);
            theirs.start(id -> {}, id -> {});

            JobID a = new JobID();
            ours.put(a, "job a");
            assertEquals("job a", theirs.recoverName(a), "Flink reads zkha's job");
            JobID b = new JobID();
            theirs.put(b, "job b");
            String event = events.poll(10, TimeUnit.SECONDS);
            while (event != null && !event.equals("added " + b)) {
                event = events.poll(10, TimeUnit.SECONDS);
            }
            assertEquals("added " + b, event, "zkha's watcher reports the job Flink added");
            assertEquals("job b", ours.recoverName(b), "zkha reads Flink's job");
            assertTrue(ours.jobIds().containsAll(List.of(a, b)));

            Path files = storage.resolve(conf.get(HighAvailabilityOptions.HA_CLUSTER_ID).substring(1));
            try (Stream<Path> list = Files.list(files)) {
                List<String> names = list.map(p -> p.getFileName().toString()).collect(Collectors.toList());
                assertEquals(2, names.size(), names.toString());
                assertTrue(names.stream().allMatch(n -> n.startsWith(TestGeneration.JOB_FILE_PREFIX)), names.toString());
            }

            // Flink lets go of its locks; zkha's global cleanup then removes the job.
            theirs.stop();
            ours.globalCleanup(a).get(10, TimeUnit.SECONDS);
            assertFalse(ours.jobIds().contains(a));
            assertTrue(ours.jobIds().contains(b));
            ours.stop();
        }
    }

    /**
     * The store's path keys as Flink reads them: on 1.20 path.jobgraphs is the key, on 2.x a
     * deprecated key of path.execution-plans; recovery.* is deprecated on both.
     */
    @ParameterizedTest
    @ValueSource(strings = {"high-availability.zookeeper.path.jobgraphs", "recovery.zookeeper.path.jobgraphs"})
    void theStoreIsWhereFlinksKeysPutIt(String key) throws Exception {
        Configuration conf = zk.flinkConfig(storage);
        conf.setString(key, "/jobs-here");
        try (TestServices zkha = TestServices.leading(conf);
                ZkhaClient probe = ZkhaClient.connect(conf)) {
            TestJobStore ours = TestGeneration.zkhaJobStore(zkha.services);
            ours.start(id -> {}, id -> {});
            JobID a = new JobID();
            ours.put(a, "job a");
            List<String> there = TestServices.children(probe, probe.path("jobs-here"));
            assertNotNull(there, "no " + probe.path("jobs-here"));
            assertEquals(List.of(a.toString()), there);
            ours.stop();
        }
    }
}

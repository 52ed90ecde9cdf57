package io.zkha.flink;

import java.util.Collection;
import java.util.concurrent.CompletableFuture;
import java.util.function.Consumer;

import org.apache.flink.api.common.JobID;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.core.execution.RestoreMode;
import org.apache.flink.runtime.checkpoint.CheckpointRecoveryFactory;
import org.apache.flink.runtime.checkpoint.CompletedCheckpointStore;
import org.apache.flink.runtime.highavailability.HighAvailabilityServices;
import org.apache.flink.runtime.jobgraph.JobGraph;
import org.apache.flink.runtime.jobmanager.JobGraphStore;
import org.apache.flink.runtime.state.SharedStateRegistry;
import org.apache.flink.runtime.util.ZooKeeperUtils;
import org.apache.flink.shaded.curator5.org.apache.curator.framework.CuratorFramework;

/** What the tests do the Flink 1.20 way (this folder is compiled in the flink-1.20 profile only). */
final class TestGeneration {
    /** The prefix of the job store's state files. */
    static final String JOB_FILE_PREFIX = "submittedJobGraph";

    private TestGeneration() {}

    static TestJobStore zkhaJobStore(HighAvailabilityServices services) throws Exception {
        return wrap(services.getJobGraphStore());
    }

    static TestJobStore builtInJobStore(CuratorFramework curator, Configuration conf) throws Exception {
        return wrap(ZooKeeperUtils.createJobGraphs(curator, conf));
    }

    static CompletedCheckpointStore openCheckpointStore(CheckpointRecoveryFactory factory, JobID jobId) throws Exception {
        return factory.createRecoveredCompletedCheckpointStore(
                jobId, 1, SharedStateRegistry.DEFAULT_FACTORY, Runnable::run, RestoreMode.DEFAULT);
    }

    private static TestJobStore wrap(JobGraphStore store) {
        return new TestJobStore() {
            @Override
            public void start(Consumer<JobID> added, Consumer<JobID> removed) throws Exception {
                store.start(new JobGraphStore.JobGraphListener() {
                    @Override
                    public void onAddedJobGraph(JobID jobId) {
                        added.accept(jobId);
                    }

                    @Override
                    public void onRemovedJobGraph(JobID jobId) {
                        removed.accept(jobId);
                    }
                });
            }

            @Override
            public void put(JobID jobId, String name) throws Exception {
                store.putJobGraph(new JobGraph(jobId, name));
            }

            @Override
            public String recoverName(JobID jobId) throws Exception {
                JobGraph graph = store.recoverJobGraph(jobId);
                return graph == null ? null : graph.getName();
            }

            @Override
            public Collection<JobID> jobIds() throws Exception {
                return store.getJobIds();
            }

            @Override
            public CompletableFuture<Void> globalCleanup(JobID jobId) {
                return store.globalCleanupAsync(jobId, Runnable::run);
            }

            @Override
            public void stop() throws Exception {
                store.stop();
            }
        };
    }
}

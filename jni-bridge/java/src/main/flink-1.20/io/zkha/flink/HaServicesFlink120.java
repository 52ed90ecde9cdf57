package io.zkha.flink;

import java.util.concurrent.Executor;

import org.apache.flink.api.common.JobID;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.configuration.HighAvailabilityOptions;
import org.apache.flink.core.execution.RestoreMode;
import org.apache.flink.runtime.blob.BlobStoreService;
import org.apache.flink.runtime.checkpoint.CheckpointRecoveryFactory;
import org.apache.flink.runtime.checkpoint.CompletedCheckpointStore;
import org.apache.flink.runtime.highavailability.AbstractHaServices;
import org.apache.flink.runtime.highavailability.FileSystemJobResultStore;
import org.apache.flink.runtime.jobmanager.DefaultJobGraphStore;
import org.apache.flink.runtime.jobmanager.JobGraphStore;
import org.apache.flink.runtime.jobmanager.JobGraphStoreWatcher;
import org.apache.flink.runtime.jobmanager.ZooKeeperJobGraphStoreUtil;
import org.apache.flink.runtime.leaderretrieval.LeaderRetrievalService;
import org.apache.flink.runtime.state.SharedStateRegistryFactory;

/**
 * zkha's JobManager HA services on Flink 1.20 (compiled against flink-runtime 1.20; loaded on
 * 1.20 only): job graphs in {@code high-availability.zookeeper.path.jobgraphs} (default
 * {@code /jobgraphs}, files {@code submittedJobGraph*}), checkpoint recovery with 1.20's
 * {@code RestoreMode}; the rest is {@link ZkhaHaCore}.
 */
final class HaServicesFlink120 extends AbstractHaServices {
    private final ZkhaHaCore core;

    HaServicesFlink120(ZkhaClient client, Configuration config, Executor ioExecutor, BlobStoreService blobStore) throws Exception {
        super(config, new ZkhaLeaderElectionDriverFactory(client), ioExecutor, blobStore,
                FileSystemJobResultStore.fromConfiguration(config, ioExecutor));
        this.core = new ZkhaHaCore(client);
    }

    @Override
    protected JobGraphStore createJobGraphStore() throws Exception {
        String root = core.storeRoot(HighAvailabilityOptions.HA_ZOOKEEPER_JOBGRAPHS_PATH);
        return new DefaultJobGraphStore<>(
                core.store(root, "submittedJobGraph"), new JobGraphWatcher(core.jobWatcher(root)), ZooKeeperJobGraphStoreUtil.INSTANCE);
    }

    @Override
    protected CheckpointRecoveryFactory createCheckpointRecoveryFactory() {
        return new CheckpointRecovery(core.client, ioExecutor);
    }

    @Override
    protected LeaderRetrievalService createLeaderRetrievalService(String componentId) {
        return core.leaderRetrieval(componentId);
    }

    @Override
    protected void internalClose() {
        core.close();
    }

    @Override
    protected void internalCleanup() {
        core.cleanupAll();
    }

    @Override
    protected void internalCleanupJobData(JobID jobId) {
        core.cleanupJob(jobId);
    }

    @Override
    protected String getLeaderPathForResourceManager() {
        return ZkhaHaCore.RESOURCE_MANAGER;
    }

    @Override
    protected String getLeaderPathForDispatcher() {
        return ZkhaHaCore.DISPATCHER;
    }

    @Override
    protected String getLeaderPathForJobManager(JobID jobId) {
        return ZkhaHaCore.jobManager(jobId);
    }

    @Override
    protected String getLeaderPathForRestServer() {
        return ZkhaHaCore.REST_SERVER;
    }

    /** Flink 1.20's job graph watcher on {@link ZkhaJobWatcher}. */
    static final class JobGraphWatcher implements JobGraphStoreWatcher {
        private final ZkhaJobWatcher watcher;

        JobGraphWatcher(ZkhaJobWatcher watcher) {
            this.watcher = watcher;
        }

        @Override
        public void start(JobGraphStore.JobGraphListener listener) {
            watcher.start(listener::onAddedJobGraph, listener::onRemovedJobGraph);
        }

        @Override
        public void stop() throws Exception {
            watcher.stop();
        }
    }

    /** Flink 1.20's checkpoint recovery: the shared state registry takes a {@code RestoreMode}. */
    static final class CheckpointRecovery extends ZkhaCheckpointRecovery implements CheckpointRecoveryFactory {
        CheckpointRecovery(ZkhaClient client, Executor executor) {
            super(client, executor);
        }

        @Override
        public CompletedCheckpointStore createRecoveredCompletedCheckpointStore(
                JobID jobId,
                int maxNumberOfCheckpointsToRetain,
                SharedStateRegistryFactory sharedStateRegistryFactory,
                Executor ioExecutor,
                RestoreMode restoreMode)
                throws Exception {
            return open(jobId, maxNumberOfCheckpointsToRetain,
                    checkpoints -> sharedStateRegistryFactory.create(ioExecutor, checkpoints, restoreMode));
        }
    }
}

package io.zkha.flink;

import java.util.concurrent.Executor;

import org.apache.flink.api.common.JobID;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.runtime.blob.BlobStoreService;
import org.apache.flink.runtime.checkpoint.CheckpointRecoveryFactory;
import org.apache.flink.runtime.highavailability.AbstractHaServices;
import org.apache.flink.runtime.highavailability.FileSystemJobResultStore;
import org.apache.flink.runtime.jobmanager.ExecutionPlanStore;
import org.apache.flink.runtime.leaderretrieval.LeaderRetrievalService;

/**
 * zkha's JobManager HA services on Flink 2.0, 2.1 and 2.2 (compiled against flink-runtime 2.0;
 * loaded on those only: 2.3's {@code AbstractHaServices} has no 5-argument constructor):
 * execution plans and checkpoint recovery of {@link Flink2Support}; the rest is
 * {@link ZkhaHaCore}.
 */
final class HaServicesFlink20 extends AbstractHaServices {
    private final ZkhaHaCore core;

    HaServicesFlink20(ZkhaClient client, Configuration config, Executor ioExecutor, BlobStoreService blobStore) throws Exception {
        super(config, new ZkhaLeaderElectionDriverFactory(client), ioExecutor, blobStore,
                FileSystemJobResultStore.fromConfiguration(config, ioExecutor));
        this.core = new ZkhaHaCore(client);
    }

    @Override
    protected ExecutionPlanStore createExecutionPlanStore() throws Exception {
        return Flink2Support.executionPlanStore(core);
    }

    @Override
    protected CheckpointRecoveryFactory createCheckpointRecoveryFactory() {
        return new Flink2Support.CheckpointRecovery(core.client, ioExecutor);
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
}

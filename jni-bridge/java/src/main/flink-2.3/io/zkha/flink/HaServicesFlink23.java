package io.zkha.flink;

import java.util.concurrent.Executor;

import org.apache.flink.api.common.JobID;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.configuration.HighAvailabilityOptions;
import org.apache.flink.runtime.blob.BlobStoreService;
import org.apache.flink.runtime.checkpoint.CheckpointRecoveryFactory;
import org.apache.flink.runtime.highavailability.AbstractHaServices;
import org.apache.flink.runtime.highavailability.FileSystemApplicationResultStore;
import org.apache.flink.runtime.highavailability.FileSystemJobResultStore;
import org.apache.flink.runtime.jobmanager.ApplicationStore;
import org.apache.flink.runtime.jobmanager.DefaultApplicationStore;
import org.apache.flink.runtime.jobmanager.ExecutionPlanStore;
import org.apache.flink.runtime.jobmanager.ZooKeeperApplicationStoreUtil;
import org.apache.flink.runtime.leaderretrieval.LeaderRetrievalService;

/**
 * zkha's JobManager HA services on Flink 2.3 (compiled against flink-runtime 2.3; loaded on 2.3
 * only): execution plans and checkpoint recovery of {@link Flink2Support}, applications in
 * {@code high-availability.zookeeper.path.applications} (default {@code /applications}, files
 * {@code submittedApplication*}), application results in Flink's file-system store; the rest
 * is {@link ZkhaHaCore}.
 */
final class HaServicesFlink23 extends AbstractHaServices {
    private final ZkhaHaCore core;

    HaServicesFlink23(ZkhaClient client, Configuration config, Executor ioExecutor, BlobStoreService blobStore) throws Exception {
        super(config, new ZkhaLeaderElectionDriverFactory(client), ioExecutor, blobStore,
                FileSystemJobResultStore.fromConfiguration(config, ioExecutor),
                FileSystemApplicationResultStore.fromConfiguration(config, ioExecutor));
        this.core = new ZkhaHaCore(client);
    }

    @Override
    protected ExecutionPlanStore createExecutionPlanStore() throws Exception {
        return Flink2Support.executionPlanStore(core);
    }

    @Override
    protected ApplicationStore createApplicationStore() throws Exception {
        return new DefaultApplicationStore<>(
                core.store(core.storeRoot(HighAvailabilityOptions.HA_ZOOKEEPER_APPLICATIONS_PATH), "submittedApplication"),
                ZooKeeperApplicationStoreUtil.INSTANCE);
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

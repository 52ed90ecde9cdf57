package io.zkha.flink;

import java.util.concurrent.Executor;

import org.apache.flink.api.common.JobID;
import org.apache.flink.configuration.ConfigOption;
import org.apache.flink.configuration.ConfigOptions;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.runtime.blob.BlobStoreService;
import org.apache.flink.runtime.checkpoint.CheckpointRecoveryFactory;
import org.apache.flink.runtime.highavailability.AbstractHaServices;
import org.apache.flink.runtime.highavailability.FileSystemApplicationResultStore;
import org.apache.flink.runtime.highavailability.FileSystemJobResultStore;
import org.apache.flink.runtime.highavailability.HighAvailabilityServicesUtils;
import org.apache.flink.runtime.jobmanager.ApplicationStore;
import org.apache.flink.runtime.jobmanager.DefaultApplicationStore;
import org.apache.flink.runtime.jobmanager.DefaultExecutionPlanStore;
import org.apache.flink.runtime.jobmanager.ExecutionPlanStore;
import org.apache.flink.runtime.jobmanager.ZooKeeperApplicationStoreUtil;
import org.apache.flink.runtime.jobmanager.ZooKeeperExecutionPlanStoreUtil;
import org.apache.flink.runtime.leaderretrieval.DefaultLeaderRetrievalService;
import org.apache.flink.runtime.leaderretrieval.LeaderRetrievalService;
import org.apache.flink.runtime.persistence.filesystem.FileSystemStateStorageHelper;

/**
 * JobManager HA services on zkha, with the znode layout and bytes of Flink's built-in ZooKeeper
 * HA (so a cluster can switch either way and keep its jobs and checkpoints): leader election
 * and retrieval, execution plans, applications, checkpoints and the checkpoint ID counter in
 * ZooKeeper; job and application results and blobs in Flink's own file-system stores.
 */
final class ZkhaHaServices extends AbstractHaServices {
    static final ConfigOption<String> EXECUTION_PLANS_PATH =
            ConfigOptions.key("high-availability.zookeeper.path.execution-plans").stringType().defaultValue("/execution-plans");
    static final ConfigOption<String> APPLICATIONS_PATH =
            ConfigOptions.key("high-availability.zookeeper.path.applications").stringType().defaultValue("/applications");

    private final ZkhaClient client;

    ZkhaHaServices(ZkhaClient client, Configuration config, Executor ioExecutor, BlobStoreService blobStore) throws Exception {
        super(
                config,
                new ZkhaLeaderElectionDriverFactory(client),
                ioExecutor,
                blobStore,
                FileSystemJobResultStore.fromConfiguration(config, ioExecutor),
                FileSystemApplicationResultStore.fromConfiguration(config, ioExecutor));
        this.client = client;
    }

    @Override
    protected LeaderRetrievalService createLeaderRetrievalService(String componentId) {
        return new DefaultLeaderRetrievalService(new ZkhaLeaderRetrievalDriver.Factory(
                client, client.path("leader/" + componentId + "/connection_info")));
    }

    @Override
    protected CheckpointRecoveryFactory createCheckpointRecoveryFactory() {
        return new ZkhaCheckpointRecoveryFactory(client, ioExecutor);
    }

    @Override
    protected ExecutionPlanStore createExecutionPlanStore() throws Exception {
        String root = client.path(configuration.get(EXECUTION_PLANS_PATH));
        return new DefaultExecutionPlanStore<>(
                new ZkhaStateHandleStore<>(client, root, new FileSystemStateStorageHelper<>(
                        HighAvailabilityServicesUtils.getClusterHighAvailableStoragePath(configuration), "submittedExecutionPlan")),
                new ZkhaExecutionPlanStoreWatcher(client, root),
                ZooKeeperExecutionPlanStoreUtil.INSTANCE);
    }

    @Override
    protected ApplicationStore createApplicationStore() throws Exception {
        String root = client.path(configuration.get(APPLICATIONS_PATH));
        return new DefaultApplicationStore<>(
                new ZkhaStateHandleStore<>(client, root, new FileSystemStateStorageHelper<>(
                        HighAvailabilityServicesUtils.getClusterHighAvailableStoragePath(configuration), "submittedApplication")),
                ZooKeeperApplicationStoreUtil.INSTANCE);
    }

    @Override
    protected void internalClose() {
        client.close();
    }

    @Override
    protected void internalCleanup() {
        io.zkha.jni.Native.deleteRecursive(client.id, client.root);
    }

    @Override
    protected void internalCleanupJobData(JobID jobId) {
        io.zkha.jni.Native.deleteRecursive(client.id, client.path("jobs/" + jobId));
    }

    @Override
    protected String getLeaderPathForResourceManager() {
        return "resource_manager";
    }

    @Override
    protected String getLeaderPathForDispatcher() {
        return "dispatcher";
    }

    @Override
    protected String getLeaderPathForJobManager(JobID jobId) {
        return "job-" + jobId;
    }

    @Override
    protected String getLeaderPathForRestServer() {
        return "rest_server";
    }
}

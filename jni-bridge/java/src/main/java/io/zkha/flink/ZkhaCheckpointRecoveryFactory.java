package io.zkha.flink;

import java.util.Collection;
import java.util.concurrent.Executor;

import org.apache.flink.api.common.JobID;
import org.apache.flink.core.execution.RecoveryClaimMode;
import org.apache.flink.runtime.checkpoint.CheckpointIDCounter;
import org.apache.flink.runtime.checkpoint.CheckpointRecoveryFactory;
import org.apache.flink.runtime.checkpoint.CompletedCheckpoint;
import org.apache.flink.runtime.checkpoint.CompletedCheckpointStore;
import org.apache.flink.runtime.checkpoint.DefaultCompletedCheckpointStore;
import org.apache.flink.runtime.checkpoint.DefaultCompletedCheckpointStoreUtils;
import org.apache.flink.runtime.checkpoint.ZooKeeperCheckpointStoreUtil;
import org.apache.flink.runtime.highavailability.HighAvailabilityServicesUtils;
import org.apache.flink.runtime.persistence.filesystem.FileSystemStateStorageHelper;
import org.apache.flink.runtime.state.SharedStateRegistryFactory;

/**
 * Per job: {@code <root>/jobs/<jobid>/checkpoints} (entries named {@code %019d}, Flink's own
 * names, so a cluster can switch between built-in HA and zkha) and
 * {@code <root>/jobs/<jobid>/checkpoint_id_counter}; checkpoint metadata files in
 * {@code <storageDir>/<cluster-id>/completedCheckpoint*}.
 */
final class ZkhaCheckpointRecoveryFactory implements CheckpointRecoveryFactory {
    private final ZkhaClient client;
    private final Executor executor;

    ZkhaCheckpointRecoveryFactory(ZkhaClient client, Executor executor) {
        this.client = client;
        this.executor = executor;
    }

    @Override
    public CompletedCheckpointStore createRecoveredCompletedCheckpointStore(
            JobID jobId,
            int maxNumberOfCheckpointsToRetain,
            SharedStateRegistryFactory sharedStateRegistryFactory,
            Executor ioExecutor,
            RecoveryClaimMode recoveryClaimMode)
            throws Exception {
        ZkhaStateHandleStore<CompletedCheckpoint> store = new ZkhaStateHandleStore<>(
                client,
                client.path("jobs/" + jobId + "/checkpoints"),
                new FileSystemStateStorageHelper<>(
                        HighAvailabilityServicesUtils.getClusterHighAvailableStoragePath(client.configuration),
                        "completedCheckpoint"));
        Collection<CompletedCheckpoint> checkpoints =
                DefaultCompletedCheckpointStoreUtils.retrieveCompletedCheckpoints(store, ZooKeeperCheckpointStoreUtil.INSTANCE);
        return new DefaultCompletedCheckpointStore<>(
                maxNumberOfCheckpointsToRetain,
                store,
                ZooKeeperCheckpointStoreUtil.INSTANCE,
                checkpoints,
                sharedStateRegistryFactory.create(ioExecutor, checkpoints, recoveryClaimMode),
                executor);
    }

    @Override
    public CheckpointIDCounter createCheckpointIDCounter(JobID jobId) {
        return new ZkhaCheckpointIDCounter(client, client.path("jobs/" + jobId + "/checkpoint_id_counter"));
    }
}

package io.zkha.flink;

import java.util.Collection;
import java.util.concurrent.Executor;
import java.util.function.Function;

import org.apache.flink.api.common.JobID;
import org.apache.flink.runtime.checkpoint.CheckpointIDCounter;
import org.apache.flink.runtime.checkpoint.CompletedCheckpoint;
import org.apache.flink.runtime.checkpoint.CompletedCheckpointStore;
import org.apache.flink.runtime.checkpoint.DefaultCompletedCheckpointStoreUtils;
import org.apache.flink.runtime.checkpoint.ZooKeeperCheckpointStoreUtil;
import org.apache.flink.runtime.highavailability.HighAvailabilityServicesUtils;
import org.apache.flink.runtime.persistence.filesystem.FileSystemStateStorageHelper;
import org.apache.flink.runtime.state.SharedStateRegistry;

/**
 * Per job: {@code <root>/jobs/<jobid>/checkpoints} (entries named {@code %019d}, Flink's own
 * names, so a cluster can switch between built-in HA and zkha) and
 * {@code <root>/jobs/<jobid>/checkpoint_id_counter}; checkpoint metadata files in
 * {@code <storageDir>/<cluster-id>/completedCheckpoint*}.
 *
 * <p>Everything of Flink's {@code CheckpointRecoveryFactory} but the creation of the shared
 * state registry, whose restore-mode type differs between Flink 1.20 and 2: each generation's
 * factory extends this class and implements the interface with one method.
 */
abstract class ZkhaCheckpointRecovery {
    private final ZkhaClient client;
    private final Executor executor;

    ZkhaCheckpointRecovery(ZkhaClient client, Executor executor) {
        this.client = client;
        this.executor = executor;
    }

    /**
     * The job's checkpoint store, with the checkpoints found in ZooKeeper; {@code registry}
     * makes the shared state registry for them. The store frees its native handle on shutdown.
     */
    final CompletedCheckpointStore open(
            JobID jobId,
            int maxNumberOfCheckpointsToRetain,
            Function<Collection<CompletedCheckpoint>, SharedStateRegistry> registry)
            throws Exception {
        ZkhaStateHandleStore<CompletedCheckpoint> store = new ZkhaStateHandleStore<>(
                client,
                client.path("jobs/" + jobId + "/checkpoints"),
                new FileSystemStateStorageHelper<>(
                        HighAvailabilityServicesUtils.getClusterHighAvailableStoragePath(client.configuration),
                        "completedCheckpoint"));
        try {
            Collection<CompletedCheckpoint> checkpoints =
                    DefaultCompletedCheckpointStoreUtils.retrieveCompletedCheckpoints(store, ZooKeeperCheckpointStoreUtil.INSTANCE);
            return new ZkhaCompletedCheckpointStore(
                    maxNumberOfCheckpointsToRetain, store, checkpoints, registry.apply(checkpoints), executor);
        } catch (Exception | Error e) {
            store.close();
            throw e;
        }
    }

    /** Flink's {@code CheckpointRecoveryFactory.createCheckpointIDCounter}. */
    public CheckpointIDCounter createCheckpointIDCounter(JobID jobId) {
        return new ZkhaCheckpointIDCounter(client, client.path("jobs/" + jobId + "/checkpoint_id_counter"));
    }
}

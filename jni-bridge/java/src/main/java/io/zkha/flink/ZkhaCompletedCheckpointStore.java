package io.zkha.flink;

import java.util.Collection;
import java.util.concurrent.Executor;

import org.apache.flink.api.common.JobStatus;
import org.apache.flink.runtime.checkpoint.CheckpointsCleaner;
import org.apache.flink.runtime.checkpoint.CompletedCheckpoint;
import org.apache.flink.runtime.checkpoint.DefaultCompletedCheckpointStore;
import org.apache.flink.runtime.checkpoint.ZooKeeperCheckpointStoreUtil;
import org.apache.flink.runtime.persistence.IntegerResourceVersion;
import org.apache.flink.runtime.state.SharedStateRegistry;

/**
 * Flink's {@code DefaultCompletedCheckpointStore} on a zkha store that it frees when the job's
 * checkpoint services shut down (a JobManager opens one per job run, for as long as it runs).
 */
final class ZkhaCompletedCheckpointStore extends DefaultCompletedCheckpointStore<IntegerResourceVersion> {
    final ZkhaStateHandleStore<CompletedCheckpoint> store;

    ZkhaCompletedCheckpointStore(
            int maxNumberOfCheckpointsToRetain,
            ZkhaStateHandleStore<CompletedCheckpoint> store,
            Collection<CompletedCheckpoint> checkpoints,
            SharedStateRegistry sharedStateRegistry,
            Executor executor) {
        super(maxNumberOfCheckpointsToRetain, store, ZooKeeperCheckpointStoreUtil.INSTANCE, checkpoints,
                sharedStateRegistry, executor);
        this.store = store;
    }

    @Override
    public void shutdown(JobStatus jobStatus, CheckpointsCleaner checkpointsCleaner) throws Exception {
        try {
            super.shutdown(jobStatus, checkpointsCleaner);
        } finally {
            store.close();
        }
    }
}

package io.zkha.flink;

import java.util.concurrent.CompletableFuture;

import io.zkha.jni.Native;
import org.apache.flink.api.common.JobStatus;
import org.apache.flink.runtime.checkpoint.CheckpointIDCounter;

/**
 * Flink's checkpoint ID counter on the zkha counter: the 4-byte {@code checkpoint_id_counter}
 * znode of Flink's built-in HA (seeded with 1), every write fenced on the leader's latch node.
 */
final class ZkhaCheckpointIDCounter implements CheckpointIDCounter {
    private final long counter;

    ZkhaCheckpointIDCounter(ZkhaClient client, String path) {
        this.counter = Native.counterNew(client.id, path, INITIAL_CHECKPOINT_ID, client.slot);
    }

    @Override
    public void start() {
        Native.counterGet(counter);
    }

    @Override
    public CompletableFuture<Void> shutdown(JobStatus jobStatus) {
        try {
            if (jobStatus.isGloballyTerminalState()) {
                Native.counterRemove(counter);
            }
            return CompletableFuture.completedFuture(null);
        } catch (RuntimeException e) {
            CompletableFuture<Void> failed = new CompletableFuture<>();
            failed.completeExceptionally(e);
            return failed;
        } finally {
            Native.free(counter);
        }
    }

    @Override
    public long getAndIncrement() {
        return Native.counterGetAndIncrement(counter);
    }

    @Override
    public long get() {
        return Native.counterGet(counter);
    }

    @Override
    public void setCount(long newId) {
        if (newId > Integer.MAX_VALUE) {
            throw new IllegalArgumentException("checkpoint id " + newId + " does not fit Flink's 4-byte counter");
        }
        Native.counterSet(counter, newId);
    }
}

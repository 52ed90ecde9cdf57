package io.zkha.flink;

import java.util.concurrent.Executor;

import org.apache.flink.api.common.JobID;
import org.apache.flink.configuration.HighAvailabilityOptions;
import org.apache.flink.core.execution.RecoveryClaimMode;
import org.apache.flink.runtime.checkpoint.CheckpointRecoveryFactory;
import org.apache.flink.runtime.checkpoint.CompletedCheckpointStore;
import org.apache.flink.runtime.jobmanager.DefaultExecutionPlanStore;
import org.apache.flink.runtime.jobmanager.ExecutionPlanStore;
import org.apache.flink.runtime.jobmanager.ExecutionPlanStoreWatcher;
import org.apache.flink.runtime.jobmanager.ZooKeeperExecutionPlanStoreUtil;
import org.apache.flink.runtime.state.SharedStateRegistryFactory;

/**
 * What zkha's HA services have in common on Flink 2.0 to 2.3 (compiled against flink-runtime
 * 2.0; every Flink class it touches is the same in 2.0 to 2.3): the execution plan store and
 * checkpoint recovery with {@code RecoveryClaimMode}.
 */
final class Flink2Support {
    private Flink2Support() {}

    /**
     * Execution plans in {@code high-availability.zookeeper.path.execution-plans} (default
     * {@code /execution-plans}; Flink falls back to the deprecated
     * {@code high-availability.zookeeper.path.jobgraphs}), files {@code submittedExecutionPlan*}.
     */
    static ExecutionPlanStore executionPlanStore(ZkhaHaCore core) throws Exception {
        String root = core.storeRoot(HighAvailabilityOptions.HA_ZOOKEEPER_EXECUTION_PLANS_PATH);
        return new DefaultExecutionPlanStore<>(
                core.store(root, "submittedExecutionPlan"),
                new ExecutionPlanWatcher(core.jobWatcher(root)),
                ZooKeeperExecutionPlanStoreUtil.INSTANCE);
    }

    /** Flink 2's execution plan watcher on {@link ZkhaJobWatcher}. */
    static final class ExecutionPlanWatcher implements ExecutionPlanStoreWatcher {
        private final ZkhaJobWatcher watcher;

        ExecutionPlanWatcher(ZkhaJobWatcher watcher) {
            this.watcher = watcher;
        }

        @Override
        public void start(ExecutionPlanStore.ExecutionPlanListener listener) {
            watcher.start(listener::onAddedExecutionPlan, listener::onRemovedExecutionPlan);
        }

        @Override
        public void stop() throws Exception {
            watcher.stop();
        }
    }

    /** Flink 2's checkpoint recovery: the shared state registry takes a {@code RecoveryClaimMode}. */
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
                RecoveryClaimMode recoveryClaimMode)
                throws Exception {
            return open(jobId, maxNumberOfCheckpointsToRetain,
                    checkpoints -> sharedStateRegistryFactory.create(ioExecutor, checkpoints, recoveryClaimMode));
        }
    }
}

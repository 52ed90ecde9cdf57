package io.zkha.flink;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;


import io.zkha.jni.ClosedException;
import org.apache.flink.api.common.JobID;
import org.apache.flink.api.common.JobStatus;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.runtime.checkpoint.CheckpointRecoveryFactory;
import org.apache.flink.runtime.checkpoint.CheckpointsCleaner;
import org.apache.flink.runtime.checkpoint.CompletedCheckpointStore;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/** A job's checkpoint store, opened as a JobManager opens it for each run of a job. */
class CheckpointStoreTest extends RealZooKeeperTest {
    /** A JobManager runs many jobs over its life: each run's store is freed when it ends. */
    @ParameterizedTest
    @EnumSource(value = JobStatus.class, names = {"SUSPENDED", "FINISHED", "CANCELED"})
    void theStoreFreesItsNativeHandleOnShutdown(JobStatus end) throws Exception {
        Configuration conf = zk.flinkConfig(storage);
        try (TestServices zkha = TestServices.leading(conf)) {
            CheckpointRecoveryFactory factory = zkha.services.getCheckpointRecoveryFactory();
            JobID job = new JobID();
            CompletedCheckpointStore store = TestGeneration.openCheckpointStore(factory, job);
            ZkhaStateHandleStore<?> handles = assertInstanceOf(ZkhaCompletedCheckpointStore.class, store).store;
            assertEquals(0, handles.getAllHandles().size());
            store.shutdown(end, new CheckpointsCleaner());
            ClosedException e = assertThrows(ClosedException.class, handles::getAllHandles);
            assertEquals(ClosedException.class, e.getClass());
            // The next run of the job opens a store of its own.
            CompletedCheckpointStore again = TestGeneration.openCheckpointStore(factory, job);
            assertEquals(0, again.getNumberOfRetainedCheckpoints());
            again.shutdown(JobStatus.SUSPENDED, new CheckpointsCleaner());
        }
    }
}

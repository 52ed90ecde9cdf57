package io.zkha.flink;

import java.util.Collection;
import java.util.concurrent.CompletableFuture;
import java.util.function.Consumer;

import org.apache.flink.api.common.JobID;

/**
 * A job store as the tests use it: Flink 1.20's {@code JobGraphStore} or Flink 2's
 * {@code ExecutionPlanStore}, zkha's or Flink's built-in one ({@code TestGeneration} makes
 * them; it has one source folder per generation).
 */
interface TestJobStore {
    void start(Consumer<JobID> added, Consumer<JobID> removed) throws Exception;

    /** Stores a job graph named {@code name}. */
    void put(JobID jobId, String name) throws Exception;

    /** The name of the stored job graph, null if there is none. */
    String recoverName(JobID jobId) throws Exception;

    Collection<JobID> jobIds() throws Exception;

    CompletableFuture<Void> globalCleanup(JobID jobId);

    void stop() throws Exception;
}

package io.zkha.flink;

import java.io.IOException;
import java.io.Serializable;

import io.zkha.jni.Native;
import org.apache.flink.api.common.JobID;
import org.apache.flink.configuration.ConfigOption;
import org.apache.flink.runtime.highavailability.HighAvailabilityServicesUtils;
import org.apache.flink.runtime.leaderretrieval.DefaultLeaderRetrievalService;
import org.apache.flink.runtime.leaderretrieval.LeaderRetrievalService;
import org.apache.flink.runtime.persistence.filesystem.FileSystemStateStorageHelper;

/**
 * What zkha's JobManager HA services do on every Flink version; each generation's
 * {@code AbstractHaServices} subclass ({@code HaServicesFlink120}, {@code HaServicesFlink20},
 * {@code HaServicesFlink23}) adds its stores and delegates the rest here.
 *
 * <p>The znode layout and bytes are those of Flink's built-in ZooKeeper HA (so a cluster can
 * switch either way and keep its jobs and checkpoints): leader election and retrieval, job
 * graphs or execution plans, applications, checkpoints and the checkpoint ID counter in
 * ZooKeeper; job and application results and blobs in Flink's own file-system stores.
 */
final class ZkhaHaCore {
    static final String RESOURCE_MANAGER = "resource_manager";
    static final String DISPATCHER = "dispatcher";
    static final String REST_SERVER = "rest_server";

    final ZkhaClient client;

    ZkhaHaCore(ZkhaClient client) {
        this.client = client;
    }

    /** The leader name of a job's JobMaster. */
    static String jobManager(JobID jobId) {
        return "job-" + jobId;
    }

    LeaderRetrievalService leaderRetrieval(String componentId) {
        return new DefaultLeaderRetrievalService(new ZkhaLeaderRetrievalDriver.Factory(
                client, client.path("leader/" + componentId + "/connection_info")));
    }

    /** A store's root: Flink's path {@code option} (with its deprecated keys) below the cluster root. */
    String storeRoot(ConfigOption<String> option) {
        return client.path(client.configuration.get(option));
    }

    /** A store at {@code root} whose state files are {@code <storageDir>/<cluster-id>/<prefix>*}. */
    <T extends Serializable> ZkhaStateHandleStore<T> store(String root, String prefix) throws IOException {
        return new ZkhaStateHandleStore<>(client, root, new FileSystemStateStorageHelper<>(
                HighAvailabilityServicesUtils.getClusterHighAvailableStoragePath(client.configuration), prefix));
    }

    /** Reports the jobs added and removed under a store's root. */
    ZkhaJobWatcher jobWatcher(String root) {
        return new ZkhaJobWatcher(client, root);
    }

    /** {@code AbstractHaServices.internalClose}. */
    void close() {
        client.close();
    }

    /**
     * {@code AbstractHaServices.internalCleanup}, as Flink's built-in ZooKeeper HA does it: the
     * cluster root and everything below it, then each parent up to {@code /} that is left empty
     * (stopping at the first that is not: another cluster's).
     */
    void cleanupAll() {
        Native.deleteRecursive(client.id, client.root);
        for (String p = parent(client.root); !p.equals("/"); p = parent(p)) {
            if (!client.deleteIfEmpty(p)) {
                break;
            }
        }
    }

    /**
     * {@code AbstractHaServices.internalCleanupJobData}: the job's {@code jobs/<jobid>}
     * (checkpoints, counter), as Flink's built-in ZooKeeper HA, and its leader node
     * {@code leader/job-<jobid>} if no leader information is left in it.
     */
    void cleanupJob(JobID jobId) {
        Native.deleteRecursive(client.id, client.path("jobs/" + jobId));
        client.deleteIfEmpty(client.path("leader/" + jobManager(jobId)));
    }

    private static String parent(String path) {
        int slash = path.lastIndexOf('/');
        return slash <= 0 ? "/" : path.substring(0, slash);
    }
}

package io.zkha.flink;

import java.util.Map;
import java.util.function.Consumer;

import io.zkha.jni.Codec;
import io.zkha.jni.Native;
import io.zkha.jni.ZkhaException;
import org.apache.flink.api.common.JobID;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Reports jobs added or removed under a store root (a zkha subtree watch): the body of Flink
 * 1.20's {@code JobGraphStoreWatcher} and of Flink 2's {@code ExecutionPlanStoreWatcher},
 * which adapt it to their listeners.
 */
final class ZkhaJobWatcher {
    private static final Logger LOG = LoggerFactory.getLogger(ZkhaJobWatcher.class);

    private final ZkhaClient client;
    private final String root;
    private volatile boolean running;
    private long watch;
    private Thread dispatcher;

    ZkhaJobWatcher(ZkhaClient client, String root) {
        this.client = client;
        this.root = root;
    }

    synchronized void start(Consumer<JobID> added, Consumer<JobID> removed) {
        running = true;
        watch = Native.configWatchStart(client.id, root);
        long w = watch;
        dispatcher = new Thread(() -> {
            while (running) {
                byte[] ev;
                try {
                    ev = Native.configWatchNext(w, 200);
                } catch (ZkhaException e) {
                    return;
                }
                if (ev == null || !running) {
                    continue;
                }
                if (ev[0] == 0) {
                    return;
                }
                Map.Entry<String, byte[]> change = Codec.change(ev);
                String name = change.getKey();
                if (name.contains("/")) {
                    continue; // locks below an entry
                }
                JobID jobId;
                try {
                    jobId = JobID.fromHexString(name);
                } catch (IllegalArgumentException e) {
                    LOG.debug("zkha: ignoring {} under {}", name, root);
                    continue;
                }
                if (change.getValue() != null) {
                    added.accept(jobId);
                } else {
                    removed.accept(jobId);
                }
            }
        }, "zkha-job-watcher");
        dispatcher.setDaemon(true);
        dispatcher.start();
    }

    synchronized void stop() throws InterruptedException {
        running = false;
        if (dispatcher != null) {
            Native.free(watch);
            dispatcher.join(1500);
            dispatcher = null;
        }
    }
}

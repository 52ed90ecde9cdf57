package io.zkha.flink;

import java.util.Map;

import io.zkha.jni.Codec;
import io.zkha.jni.Native;
import io.zkha.jni.ZkhaException;
import org.apache.flink.api.common.JobID;
import org.apache.flink.runtime.jobmanager.ExecutionPlanStore;
import org.apache.flink.runtime.jobmanager.ExecutionPlanStoreWatcher;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/** Reports execution plans added or removed under the store root (a zkha subtree watch). */
final class ZkhaExecutionPlanStoreWatcher implements ExecutionPlanStoreWatcher {
    private static final Logger LOG = LoggerFactory.getLogger(ZkhaExecutionPlanStoreWatcher.class);

    private final ZkhaClient client;
    private final String root;
    private volatile boolean running;
    private long watch;
    private Thread dispatcher;

    ZkhaExecutionPlanStoreWatcher(ZkhaClient client, String root) {
        this.client = client;
        this.root = root;
    }

    @Override
    public synchronized void start(ExecutionPlanStore.ExecutionPlanListener listener) {
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
                    LOG.debug("zkha: ignoring {} under the execution plans", name);
                    continue;
                }
                if (change.getValue() != null) {
                    listener.onAddedExecutionPlan(jobId);
                } else {
                    listener.onRemovedExecutionPlan(jobId);
                }
            }
        }, "zkha-execution-plan-watcher");
        dispatcher.setDaemon(true);
        dispatcher.start();
    }

    @Override
    public synchronized void stop() throws Exception {
        running = false;
        if (dispatcher != null) {
            Native.free(watch);
            dispatcher.join(1500);
            dispatcher = null;
        }
    }
}

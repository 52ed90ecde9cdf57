package io.zkha.flink;

import io.zkha.jni.Native;
import io.zkha.jni.ZkhaException;
import org.apache.flink.runtime.leaderelection.LeaderInformation;
import org.apache.flink.runtime.leaderretrieval.LeaderRetrievalDriver;
import org.apache.flink.runtime.leaderretrieval.LeaderRetrievalDriverFactory;
import org.apache.flink.runtime.leaderretrieval.LeaderRetrievalEventHandler;
import org.apache.flink.runtime.rpc.FatalErrorHandler;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Follows one component's {@code connection_info}: the zkha core watches it (across sessions,
 * without duplicates, reporting "no leader" once the lease of an interrupted connection runs
 * out), a dispatcher daemon thread hands the changes to Flink.
 */
final class ZkhaLeaderRetrievalDriver implements LeaderRetrievalDriver {
    private static final Logger LOG = LoggerFactory.getLogger(ZkhaLeaderRetrievalDriver.class);
    private static final long POLL_MS = 200;

    private final long watch;
    private final Thread dispatcher;
    private volatile boolean running = true;

    ZkhaLeaderRetrievalDriver(ZkhaClient client, String path, LeaderRetrievalEventHandler handler, FatalErrorHandler errors) {
        this.watch = Native.leaderWatchStart(client.id, path);
        this.dispatcher = new Thread(() -> {
            while (running) {
                byte[] ev;
                try {
                    ev = Native.leaderWatchNext(watch, POLL_MS);
                } catch (ZkhaException e) {
                    if (running) {
                        errors.onFatalError(e);
                    }
                    return;
                }
                if (ev == null || !running) {
                    continue;
                }
                if (ev[0] == 0) {
                    return;
                }
                LeaderInformation info = LeaderInformation.empty();
                if (ev[0] == 1) {
                    byte[] data = java.util.Arrays.copyOfRange(ev, 1, ev.length);
                    try {
                        info = ConnectionInfo.decode(data);
                    } catch (Exception e) {
                        LOG.warn("zkha: unreadable leader information at {}: {}", path, e.toString());
                    }
                }
                handler.notifyLeaderAddress(info);
            }
        }, "zkha-leader-retrieval");
        this.dispatcher.setDaemon(true);
        this.dispatcher.start();
    }

    @Override
    public void close() throws Exception {
        running = false;
        Native.free(watch);
        dispatcher.join(2 * POLL_MS + 1000);
    }

    /** Factory for one path. */
    static final class Factory implements LeaderRetrievalDriverFactory {
        private final ZkhaClient client;
        private final String path;

        Factory(ZkhaClient client, String path) {
            this.client = client;
            this.path = path;
        }

        @Override
        public LeaderRetrievalDriver createLeaderRetrievalDriver(LeaderRetrievalEventHandler handler, FatalErrorHandler errors) {
            return new ZkhaLeaderRetrievalDriver(client, path, handler, errors);
        }
    }
}

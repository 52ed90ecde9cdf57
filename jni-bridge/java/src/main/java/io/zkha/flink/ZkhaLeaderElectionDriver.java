package io.zkha.flink;

import java.lang.management.ManagementFactory;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.atomic.AtomicBoolean;

import io.zkha.jni.Codec;
import io.zkha.jni.Native;
import io.zkha.jni.ClosedException;
import io.zkha.jni.NotLeaderException;
import io.zkha.jni.SessionExpiredException;
import io.zkha.jni.ZkhaException;
import org.apache.flink.runtime.leaderelection.LeaderElectionDriver;
import org.apache.flink.runtime.leaderelection.LeaderInformation;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Flink's leader election on zkha: one contender per JobManager process on
 * {@code <root>/leader/latch} (Curator LeaderLatch node names, so it can share the latch with
 * Flink's built-in ZooKeeper HA), leader information in each component's
 * {@code <root>/leader/<component>/connection_info} in Flink's byte format — published with a
 * write fenced on the latch node, so a stale leader publishes nothing.
 *
 * <p>Grants and revocations come from the zkha core (with its leadership lease) through a
 * dispatcher daemon thread; no zkha runtime thread ever calls Flink. While leading, a watch on
 * the leader subtree reports changed or deleted leader information, which Flink's
 * {@code DefaultLeaderElectionService} then repairs.
 *
 * <p>The driver arms the client's JVM liveness watchdog for its lifetime (only a process that
 * contends for leadership has leadership to protect); when it fires, the error goes to Flink's
 * {@link Listener#onError} (the contenders' fatal-error handlers), as every other error of
 * the election does.
 */
final class ZkhaLeaderElectionDriver implements LeaderElectionDriver {
    private static final Logger LOG = LoggerFactory.getLogger(ZkhaLeaderElectionDriver.class);
    private static final long POLL_MS = 200;

    private final ZkhaClient client;
    private final Listener listener;
    private final long election;
    private final long leaderWatch;
    private final Thread dispatcher;
    private final Thread infoDispatcher;
    private final ZkhaClient.Watchdog watchdog;
    private final AtomicBoolean watchdogReported = new AtomicBoolean();
    private volatile boolean running = true;
    /** Leaves the election as the JVM begins to shut down ({@code release-at-shutdown: early}); null with {@code after-components}. */
    private final Thread shutdownHook;

    ZkhaLeaderElectionDriver(ZkhaClient client, Listener listener) {
        this.client = client;
        this.listener = listener;
        this.election = Native.electionJoin(client.id, client.path("leader/latch"),
                ManagementFactory.getRuntimeMXBean().getName());
        Native.slotBind(client.slot, election);
        this.leaderWatch = Native.configWatchStart(client.id, client.path("leader"));
        this.watchdog = client.armWatchdog(this::reportWatchdog);
        this.dispatcher = new Thread(this::dispatchElection, "zkha-election-dispatcher");
        this.dispatcher.setDaemon(true);
        this.dispatcher.start();
        this.infoDispatcher = new Thread(this::dispatchLeaderInformation, "zkha-leader-info-dispatcher");
        this.infoDispatcher.setDaemon(true);
        this.infoDispatcher.start();
        Thread hook = null;
        if ("early".equals(client.configuration.get(ZkhaClient.RELEASE_AT_SHUTDOWN).trim())) {
            hook = new Thread(this::releaseAtShutdown, "zkha-release-at-shutdown");
            try {
                Runtime.getRuntime().addShutdownHook(hook);
            } catch (IllegalStateException e) {
                hook = null; // already shutting down: Flink closes the driver in its order
            }
        }
        this.shutdownHook = hook;
    }

    /**
     * The JVM is shutting down (SIGTERM): leave the election now rather than when Flink closes
     * the HA services after its components, so a standby leads sooner. From here on this
     * driver reports no leadership and publishes nothing; the components' ZooKeeper writes are
     * fenced out.
     */
    private void releaseAtShutdown() {
        if (!running) {
            return;
        }
        LOG.info("zkha: JVM shutting down: leaving the election now (release-at-shutdown: early)");
        try {
            closeElection();
        } catch (Exception e) {
            LOG.warn("zkha: leaving the election at shutdown failed", e);
        }
    }

    private void dispatchElection() {
        while (running) {
            byte[] ev;
            try {
                ev = Native.electionNext(election, POLL_MS);
            } catch (ZkhaException e) {
                if (running) {
                    onError(e);
                }
                return;
            }
            if (ev == null || !running) {
                continue;
            }
            switch (ev[0]) {
                case 0:
                    return;
                case 1: {
                    ByteBuffer b = ByteBuffer.wrap(ev, 1, 24);
                    long token = b.getLong();
                    UUID sessionId = new UUID(b.getLong(), b.getLong());
                    LOG.info("zkha: leadership granted (fencing token {}, leader session {})", token, sessionId);
                    listener.onGrantLeadership(sessionId);
                    break;
                }
                case 2:
                    LOG.info("zkha: leadership revoked ({}, reason code {})",
                            new String(ev, 2, ev.length - 2, StandardCharsets.UTF_8), ev[1]);
                    listener.onRevokeLeadership();
                    break;
                case 3: {
                    // Contending fails for a reason that does not pass by itself (an ACL that
                    // refuses the latch node): Flink's error path, as with its own driver.
                    String why = new String(ev, 1, ev.length - 1, StandardCharsets.UTF_8);
                    LOG.error("zkha: cannot contend for leadership: {}", why);
                    listener.onError(new ZkhaException("zkha cannot contend for leadership: " + why));
                    break;
                }
                default:
                    LOG.warn("zkha: unknown election event {}", ev[0]);
            }
        }
    }

    /** Hands an error to Flink; if the watchdog closed the client, the watchdog's instead. */
    private void onError(Exception e) {
        ZkhaException fired = watchdog.firedError();
        if (fired != null) {
            reportWatchdog(fired);
        } else {
            listener.onError(e);
        }
    }

    /** Reports that the watchdog fired, once per driver. */
    private void reportWatchdog(ZkhaException fired) {
        if (running && watchdogReported.compareAndSet(false, true)) {
            listener.onError(fired);
        }
    }

    private void dispatchLeaderInformation() {
        while (running) {
            byte[] ev;
            try {
                ev = Native.configWatchNext(leaderWatch, POLL_MS);
            } catch (ZkhaException e) {
                return;
            }
            if (ev == null) {
                continue;
            }
            if (ev[0] == 0) {
                return;
            }
            Map.Entry<String, byte[]> change = Codec.change(ev);
            String path = change.getKey();
            if (!running || !path.endsWith("/connection_info") || !hasLeadership()) {
                continue;
            }
            String componentId = path.substring(0, path.length() - "/connection_info".length());
            LeaderInformation info;
            try {
                info = ConnectionInfo.decode(change.getValue());
            } catch (Exception e) {
                LOG.warn("zkha: unreadable leader information at {}: {}", path, e.toString());
                info = LeaderInformation.empty();
            }
            listener.onLeaderInformationChange(componentId, info);
        }
    }

    @Override
    public boolean hasLeadership() {
        return running && Native.electionHasLeadership(election);
    }

    @Override
    public void publishLeaderInformation(String componentId, LeaderInformation info) {
        if (!running) {
            return;
        }
        if (info.isEmpty()) {
            deleteLeaderInformation(componentId);
            return;
        }
        try {
            Native.electionPublish(election, connectionInfoPath(componentId), ConnectionInfo.encode(info));
        } catch (NotLeaderException | SessionExpiredException e) {
            // The grant is gone (its revocation is on its way): nothing to publish for it.
            LOG.info("zkha: not publishing leader information for {}: {}", componentId, e.getMessage());
        } catch (Exception e) {
            onError(e);
        }
    }

    /**
     * Deletes the component's leader information and then, as Flink's built-in driver does,
     * its node {@code leader/<component>} (only if nothing is left in it: the leader
     * information is deleted fenced, the emptied node is kept if anything was written below it
     * meanwhile).
     */
    @Override
    public void deleteLeaderInformation(String componentId) {
        if (!running) {
            return;
        }
        try {
            Native.electionDelete(election, connectionInfoPath(componentId));
            client.deleteIfEmpty(client.path("leader/" + componentId));
        } catch (NotLeaderException | SessionExpiredException e) {
            LOG.info("zkha: not deleting leader information for {}: {}", componentId, e.getMessage());
        } catch (Exception e) {
            onError(e);
        }
    }

    private String connectionInfoPath(String componentId) {
        return client.path("leader/" + componentId + "/connection_info");
    }

    @Override
    public void close() throws Exception {
        if (shutdownHook != null) {
            try {
                Runtime.getRuntime().removeShutdownHook(shutdownHook);
            } catch (IllegalStateException e) {
                // The JVM is shutting down: the hook runs (or ran) and closes the election.
            }
        }
        closeElection();
    }

    private synchronized void closeElection() throws Exception {
        if (!running) {
            return;
        }
        running = false;
        watchdog.close();
        try {
            Native.slotBind(client.slot, 0);
        } catch (ClosedException e) {
            // The client was closed first (its watchdog fired, or shutdown order): nothing
            // is bound to it any more.
        }
        Native.electionClose(election);
        Native.free(leaderWatch);
        dispatcher.join(2 * POLL_MS + 1000);
        infoDispatcher.join(2 * POLL_MS + 1000);
    }
}

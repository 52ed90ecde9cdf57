package io.zkha.flink;

import java.time.Duration;
import java.util.Map;
import java.util.concurrent.atomic.AtomicBoolean;

import io.zkha.jni.Codec;
import io.zkha.jni.Native;
import org.apache.flink.configuration.ConfigOption;
import org.apache.flink.configuration.ConfigOptions;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.configuration.HighAvailabilityOptions;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One zkha client (one ZooKeeper session, re-opened after expiry) per HA services instance, its
 * cluster root ({@code <path.root>/<cluster-id>}), the fencing slot that guards every store
 * write with this process's leadership, and the JVM liveness watchdog.
 */
final class ZkhaClient implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(ZkhaClient.class);

    /** How long the JVM may fail to ping before zkha gives up leadership; default: the session timeout. 0 disables. */
    static final ConfigOption<Duration> WATCHDOG_TIMEOUT =
            ConfigOptions.key("high-availability.zkha.watchdog.timeout").durationType().noDefaultValue();

    final long id;
    final long slot;
    final String root;
    final Configuration configuration;
    private final AtomicBoolean closed = new AtomicBoolean();
    private final Thread watchdog;

    private ZkhaClient(long id, long slot, String root, Configuration configuration, Thread watchdog) {
        this.id = id;
        this.slot = slot;
        this.root = root;
        this.configuration = configuration;
        this.watchdog = watchdog;
    }

    /** Connects with the {@code high-availability.*} keys of {@code conf}. */
    static ZkhaClient connect(Configuration conf, boolean withWatchdog) {
        Native.init();
        Map<String, String> map = conf.toMap();
        String pairs = Codec.pairs(map);
        String root = Native.flinkClusterRoot(pairs);
        long id = Native.clientFromFlinkConfig(pairs);
        long slot = Native.slotNew();
        Thread dog = null;
        if (withWatchdog) {
            Duration timeout = conf.getOptional(WATCHDOG_TIMEOUT)
                    .orElse(conf.get(HighAvailabilityOptions.ZOOKEEPER_SESSION_TIMEOUT));
            if (!timeout.isZero()) {
                dog = startWatchdog(id, timeout);
            }
        }
        LOG.info("zkha connected: session 0x{}, cluster root {}", Long.toHexString(Native.clientSessionId(id)), root);
        return new ZkhaClient(id, slot, root, conf, dog);
    }

    /**
     * A daemon thread pings the native watchdog; if the JVM freezes (a long GC pause, a stuck
     * process) for longer than {@code timeout}, the native side gives up leadership and closes
     * the session, so a standby can lead.
     */
    private static Thread startWatchdog(long client, Duration timeout) {
        long dog = Native.watchdogArm(client, timeout.toMillis());
        long every = Math.max(10, timeout.toMillis() / 4);
        Thread t = new Thread(() -> {
            try {
                while (!Thread.currentThread().isInterrupted()) {
                    if (!Native.watchdogPing(dog)) {
                        LOG.error("zkha watchdog fired: this JVM did not answer for more than {}; leadership was given up", timeout);
                        return;
                    }
                    Thread.sleep(every);
                }
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            } catch (RuntimeException e) {
                LOG.debug("zkha watchdog stopped", e);
            } finally {
                Native.free(dog);
            }
        }, "zkha-watchdog");
        t.setDaemon(true);
        t.start();
        return t;
    }

    /** {@code <root>/<relative>}. */
    String path(String relative) {
        return root + (relative.startsWith("/") ? relative : "/" + relative);
    }

    @Override
    public void close() {
        if (closed.compareAndSet(false, true)) {
            if (watchdog != null) {
                watchdog.interrupt();
            }
            Native.free(slot);
            Native.clientClose(id);
        }
    }
}

package io.zkha.flink;

import java.time.Duration;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.function.Consumer;

import io.zkha.jni.ClosedException;
import io.zkha.jni.Codec;
import io.zkha.jni.Native;
import io.zkha.jni.NotEmptyException;
import io.zkha.jni.ZkhaException;
import org.apache.flink.configuration.ConfigOption;
import org.apache.flink.configuration.ConfigOptions;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.configuration.HighAvailabilityOptions;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One zkha client (one ZooKeeper session, re-opened after expiry) per HA services instance, its
 * cluster root ({@code <path.root>/<cluster-id>}), the fencing slot that guards every store
 * write with this process's leadership, the native handles opened on it (freed at the latest
 * when it closes), and the JVM liveness watchdog that its leader election arms.
 */
final class ZkhaClient implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(ZkhaClient.class);

    /**
     * When a JobManager leaves the election at shutdown: {@code after-components} (Flink's
     * order: when it closes its HA services, after its components stopped; the default, chosen
     * by measurement, docs/flink-e2e.md) or {@code early} (as the JVM begins to shut down).
     * The core checks the value.
     */
    static final ConfigOption<String> RELEASE_AT_SHUTDOWN =
            ConfigOptions.key("high-availability.zkha.release-at-shutdown").stringType()
                    .defaultValue("after-components");

    /** How long the JVM may fail to ping before zkha gives up leadership; default: the session timeout. 0 disables. */
    static final ConfigOption<Duration> WATCHDOG_TIMEOUT =
            ConfigOptions.key("high-availability.zkha.watchdog.timeout").durationType().noDefaultValue();

    /**
     * How often JKS or PKCS12 stores named by the ZooKeeper client's properties are checked for
     * changed files (renewed certificates); 0 never re-reads them.
     */
    static final ConfigOption<Duration> TLS_STORE_CHECK_INTERVAL =
            ConfigOptions.key("high-availability.zkha.tls.store-check-interval").durationType()
                    .defaultValue(Duration.ofSeconds(60));

    /** Tests only: the watchdog threads skip their pings while set, as in a JVM-wide pause. */
    static volatile boolean holdWatchdogPings;

    final long id;
    final long slot;
    final String root;
    final Configuration configuration;
    private final AtomicBoolean closed = new AtomicBoolean();
    /** The client's metrics MBean (null if JMX refused it). */
    private volatile javax.management.ObjectName metricsMBean;
    private final Set<Long> handles = ConcurrentHashMap.newKeySet();

    private ZkhaClient(long id, long slot, String root, Configuration configuration) {
        this.id = id;
        this.slot = slot;
        this.root = root;
        this.configuration = configuration;
    }

    /**
     * Connects with the {@code high-availability.*} keys of {@code conf} and the ZooKeeper
     * client's security system properties of this JVM ({@link ZooKeeperProperties}; JKS and
     * PKCS12 stores converted by {@link TlsStores}, and re-read when their files change).
     */
    static ZkhaClient connect(Configuration conf) {
        Native.init();
        Duration check = conf.get(TLS_STORE_CHECK_INTERVAL);
        Map<String, String> map = conf.toMap();
        Map<String, String> props = ZooKeeperProperties.gather(map, System.getProperties());
        TlsStores tls = TlsStores.load(props);
        String pairs = Codec.pairs(ZooKeeperProperties.corePairs(conf, props, tls));
        String root = Native.flinkClusterRoot(pairs);
        long id;
        try {
            id = Native.clientFromFlinkConfig(pairs);
        } catch (ZkhaException e) {
            throw tls == null ? e : namingStores(e, tls);
        }
        long slot = Native.slotNew();
        LOG.info("zkha connected: session 0x{}, cluster root {}", Long.toHexString(Native.clientSessionId(id)), root);
        ZkhaClient client = new ZkhaClient(id, slot, root, conf);
        String clusterId = conf.get(HighAvailabilityOptions.HA_CLUSTER_ID).replaceAll("^/+|/+$", "");
        client.metricsMBean = ZkhaClientMetrics.register(id, clusterId);
        if (tls != null && tls.watchesFiles() && !check.isZero()) {
            client.watchStores(tls, check.toMillis());
        }
        return client;
    }

    /**
     * A JobManager or TaskManager started from a configuration pulled by {@code zkha flink
     * config pull}: publishes the version it runs with (central configuration, drift), so
     * {@code zkha flink config status} can tell whom to restart after a push.
     */
    void publishConfigVersion() {
        try {
            long v = Native.configPublishStarted(id, Codec.pairs(configuration.toMap()));
            if (v >= 0) {
                LOG.info("zkha: running with central configuration version {}", v);
            }
        } catch (ZkhaException e) {
            // Drift reporting only: the process runs all the same.
            LOG.warn("zkha: could not publish the central configuration version: {}", e.getMessage());
        }
    }

    /**
     * {@code e} with the stores named, if it is about certificates: the core saw only the PEM
     * text converted from them, and an operator looks for the key and the file.
     */
    private static ZkhaException namingStores(ZkhaException e, TlsStores tls) {
        String m = String.valueOf(e.getMessage());
        String lower = m.toLowerCase(java.util.Locale.ROOT);
        String stores = tls.describe();
        if (stores.isEmpty() || !(lower.contains("certificate") || lower.contains("tls"))) {
            return e;
        }
        String message = m + " [the PEM text from " + stores + "]";
        try {
            ZkhaException named = e.getClass().getConstructor(String.class).newInstance(message);
            named.initCause(e);
            return named;
        } catch (ReflectiveOperationException | RuntimeException notNamed) {
            return e;
        }
    }

    private volatile Thread storeWatcher;

    /**
     * Re-reads the converted JKS or PKCS12 stores when their files change and hands the new
     * certificates to the core, which uses them from the next connection on (the ZooKeeper Java
     * client re-reads its stores at each connection). A store that does not read keeps the
     * certificates in use (logged) and is tried again. Checked every {@code checkMillis}
     * ({@link #TLS_STORE_CHECK_INTERVAL}).
     */
    private void watchStores(TlsStores tls, long checkMillis) {
        Thread t = new Thread(() -> {
            try {
                while (!closed.get()) {
                    Thread.sleep(checkMillis);
                    try {
                        Set<String> changed = tls.refresh(pem -> Native.clientReplaceTls(
                                id, pem.get(TlsStores.KEY_STORE_PEM), pem.get(TlsStores.TRUST_STORE_PEM)));
                        if (!changed.isEmpty()) {
                            LOG.info("zkha: re-read the changed TLS stores {}; used from the next connection", changed);
                        }
                    } catch (ClosedException e) {
                        return;
                    } catch (RuntimeException e) {
                        LOG.warn("zkha: a changed TLS store is not usable, keeping the certificates in use: {}", e.getMessage());
                    }
                }
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }, "zkha-tls-stores " + root);
        t.setDaemon(true);
        storeWatcher = t;
        t.start();
    }

    /** {@code <root>/<relative>}. */
    String path(String relative) {
        return root + (relative.startsWith("/") ? relative : "/" + relative);
    }

    /** Frees {@code handle} when this client closes, unless {@link #free} does it before. */
    long own(long handle) {
        handles.add(handle);
        if (closed.get() && handles.remove(handle)) {
            Native.free(handle);
        }
        return handle;
    }

    /** Frees a handle taken with {@link #own} (once; later calls do nothing). */
    void free(long handle) {
        if (handles.remove(handle)) {
            Native.free(handle);
        }
    }

    /**
     * Deletes the znode at {@code path} (absolute) if it has no children: true if it is gone
     * (or was), false if it has children. One plain delete (ZooKeeper refuses it for a node
     * with children), so a child created meanwhile is never lost; unfenced.
     */
    boolean deleteIfEmpty(String path) {
        int slash = path.lastIndexOf('/');
        if (slash < 0 || slash == path.length() - 1) {
            throw new IllegalArgumentException("not a znode below the root: " + path);
        }
        try {
            Native.delete(id, path);
            return true;
        } catch (NotEmptyException e) {
            return false;
        }
    }

    /**
     * Arms the JVM liveness watchdog until the returned handle is closed: a daemon thread
     * pings the native watchdog; if the JVM freezes (a long GC pause, a stuck process) for
     * longer than {@code high-availability.zkha.watchdog.timeout} (default: the session
     * timeout), the native side gives up leadership and closes this client, so a standby can
     * lead, and {@code onFire} gets the error to report (once the JVM runs again). Only leader
     * election arms it: a process that never contends (a TaskManager, a client) has no
     * leadership to protect.
     */
    Watchdog armWatchdog(Consumer<ZkhaException> onFire) {
        Duration timeout = configuration.getOptional(WATCHDOG_TIMEOUT)
                .orElse(configuration.get(HighAvailabilityOptions.ZOOKEEPER_SESSION_TIMEOUT));
        if (timeout.isZero()) {
            return new Watchdog(0, timeout, onFire);
        }
        return new Watchdog(Native.watchdogArm(id, timeout.toMillis()), timeout, onFire);
    }

    /** A running watchdog and the thread that pings it. */
    final class Watchdog implements AutoCloseable {
        private final long dog;
        private final Duration timeout;
        private final Consumer<ZkhaException> onFire;
        private final Thread pinger;
        private volatile boolean stopped;
        private volatile ZkhaException fired;

        private Watchdog(long dog, Duration timeout, Consumer<ZkhaException> onFire) {
            this.dog = dog;
            this.timeout = timeout;
            this.onFire = onFire;
            if (dog == 0) {
                pinger = null;
                return;
            }
            pinger = new Thread(this::ping, "zkha-watchdog " + root);
            pinger.setDaemon(true);
            pinger.start();
        }

        private void ping() {
            long every = Math.max(10, timeout.toMillis() / 4);
            try {
                while (!stopped) {
                    if (!holdWatchdogPings && firedError() != null) {
                        if (!stopped) {
                            LOG.error("zkha watchdog fired: this JVM did not answer for more than {};"
                                    + " leadership was given up and the ZooKeeper session closed", timeout);
                            onFire.accept(fired);
                        }
                        return;
                    }
                    Thread.sleep(every);
                }
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            } finally {
                Native.free(dog);
            }
        }

        /** True while armed and pinging. */
        boolean armed() {
            return pinger != null && pinger.isAlive();
        }

        /**
         * Pings the watchdog once: null while it has not fired, else the error that tells why
         * this client was closed.
         */
        ZkhaException firedError() {
            try {
                if (fired == null && dog != 0 && !Native.watchdogPing(dog)) {
                    fired = new ZkhaException("zkha watchdog: this JVM did not answer for more than " + timeout
                            + " (high-availability.zkha.watchdog.timeout); leadership was given up and the"
                            + " ZooKeeper session closed");
                }
            } catch (ClosedException e) {
                // Disarmed meanwhile: it did not fire (else fired would be set).
            }
            return fired;
        }

        @Override
        public void close() {
            stopped = true;
            if (pinger != null && pinger != Thread.currentThread()) {
                pinger.interrupt();
            }
        }
    }

    @Override
    public void close() {
        if (closed.compareAndSet(false, true)) {
            Thread w = storeWatcher;
            if (w != null) {
                w.interrupt();
            }
            ZkhaClientMetrics.unregister(metricsMBean);
            for (Long h : handles) {
                free(h);
            }
            Native.free(slot);
            Native.clientClose(id);
        }
    }
}

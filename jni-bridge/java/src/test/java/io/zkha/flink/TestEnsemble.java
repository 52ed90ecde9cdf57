package io.zkha.flink;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.UUID;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import org.apache.flink.configuration.Configuration;
import org.apache.flink.configuration.HighAvailabilityOptions;

/**
 * A real ZooKeeper server from the project's test kit ({@code zkha-testkit} CLI), owned by this
 * JVM: it dies with the test process even if {@link #close} is never reached.
 */
final class TestEnsemble implements AutoCloseable {
    final String connectString;
    private final String handle;
    private final String testkit;

    private TestEnsemble(String testkit, String connectString, String handle) {
        this.testkit = testkit;
        this.connectString = connectString;
        this.handle = handle;
    }

    private static TestEnsemble shared;

    /**
     * One single-server ensemble for all the tests of this JVM (each test uses a cluster id of
     * its own), stopped when the JVM exits.
     */
    static synchronized TestEnsemble shared() throws IOException, InterruptedException {
        if (shared == null) {
            TestEnsemble e = start(1);
            Runtime.getRuntime().addShutdownHook(new Thread(() -> {
                try {
                    e.close();
                } catch (Exception ignored) {
                    // It dies with this JVM anyway (--owner-pid).
                }
            }));
            shared = e;
        }
        return shared;
    }

    static TestEnsemble start(int nodes) throws IOException, InterruptedException {
        String testkit = System.getProperty("zkha.testkit", "../../target/debug/zkha-testkit");
        String json = run(testkit, "ensemble", "start", "--nodes", Integer.toString(nodes), "--owner-pid",
                Long.toString(ProcessHandle.current().pid()), "--json");
        return new TestEnsemble(testkit, field(json, "connect_string"), field(json, "handle"));
    }

    private static String field(String json, String name) {
        Matcher m = Pattern.compile("\"" + name + "\":\"([^\"]*)\"").matcher(json);
        if (!m.find()) {
            throw new IllegalStateException("no " + name + " in " + json);
        }
        return m.group(1);
    }

    private static String run(String... cmd) throws IOException, InterruptedException {
        Process p = new ProcessBuilder(cmd).redirectErrorStream(false).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        String err = new String(p.getErrorStream().readAllBytes(), StandardCharsets.UTF_8);
        if (p.waitFor() != 0) {
            throw new IOException(String.join(" ", cmd) + " failed: " + err);
        }
        return out;
    }

    /** A Flink configuration for a fresh cluster id on this ensemble. */
    Configuration flinkConfig(Path storageDir) throws IOException {
        Configuration conf = new Configuration();
        conf.set(HighAvailabilityOptions.HA_ZOOKEEPER_QUORUM, connectString);
        conf.set(HighAvailabilityOptions.HA_CLUSTER_ID, "/test-" + UUID.randomUUID());
        Files.createDirectories(storageDir);
        conf.set(HighAvailabilityOptions.HA_STORAGE_PATH, storageDir.toUri().toString());
        conf.set(HighAvailabilityOptions.ZOOKEEPER_SESSION_TIMEOUT, Duration.ofSeconds(4));
        conf.set(HighAvailabilityOptions.ZOOKEEPER_CONNECTION_TIMEOUT, Duration.ofSeconds(2));
        return conf;
    }

    @Override
    public void close() throws Exception {
        run(testkit, "ensemble", "stop", handle);
    }
}

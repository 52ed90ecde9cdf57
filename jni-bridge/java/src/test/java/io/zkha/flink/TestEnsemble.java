package io.zkha.flink;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
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
    /** What {@code ensemble start --json} printed (paths of a secured ensemble's files). */
    final String json;

    private TestEnsemble(String testkit, String json) {
        this.testkit = testkit;
        this.json = json;
        this.connectString = field(json, "connect_string");
        this.handle = field(json, "handle");
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

    /** {@code nodes} servers; {@code options} of {@code ensemble start}, e.g. {@code --tls}. */
    static TestEnsemble start(int nodes, String... options) throws IOException, InterruptedException {
        String testkit = System.getProperty("zkha.testkit", "../../target/debug/zkha-testkit");
        List<String> cmd = new ArrayList<>(Arrays.asList(testkit, "ensemble", "start", "--nodes", Integer.toString(nodes),
                "--owner-pid", Long.toString(ProcessHandle.current().pid()), "--json"));
        cmd.addAll(Arrays.asList(options));
        return new TestEnsemble(testkit, run(cmd.toArray(new String[0])));
    }

    /** The first string field {@code name} of the start JSON (e.g. {@code connect_string}). */
    String field(String name) {
        return field(json, name);
    }

    /** The first string field {@code name} in the JSON from object {@code section} on (e.g. {@code tls}, {@code password}). */
    String sectionField(String section, String name) {
        int at = json.indexOf("\"" + section + "\":");
        if (at < 0) {
            throw new IllegalStateException("no " + section + " in " + json);
        }
        return field(json.substring(at), name);
    }

    /** Runs {@code zkha-testkit} with the handle after {@code before} and {@code after} it. */
    String kit(List<String> before, String... after) throws IOException, InterruptedException {
        List<String> cmd = new ArrayList<>();
        cmd.add(testkit);
        cmd.addAll(before);
        cmd.add(handle);
        cmd.addAll(Arrays.asList(after));
        return run(cmd.toArray(new String[0]));
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

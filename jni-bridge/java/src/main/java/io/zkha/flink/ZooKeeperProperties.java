package io.zkha.flink;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;

import org.apache.flink.configuration.Configuration;
import org.apache.flink.configuration.HighAvailabilityOptions;

/**
 * The system properties through which Flink's built-in ZooKeeper HA is secured, as this JVM
 * has them when the HA services start: the ZooKeeper client's TLS ({@code zookeeper.client.secure},
 * {@code zookeeper.ssl.*}) and SASL ({@code zookeeper.sasl.client}, {@code .clientconfig},
 * {@code .client.username}, {@code zookeeper.server.principal}, {@code .realm}), the JAAS file
 * ({@code java.security.auth.login.config}) and Kerberos' {@code java.security.krb5.conf}. Flink's
 * security modules have set them by then: {@code ZooKeeperModule} {@code zookeeper.sasl.client}
 * (from {@code zookeeper.sasl.disable}), {@code .clientconfig} and {@code .client.username}
 * (from {@code zookeeper.sasl.login-context-name} and {@code .service-name}); {@code JaasModule}
 * the JAAS file (a temporary empty one if none was given).
 *
 * <p>Where they come from, each overriding the one before: the {@code -D} options of
 * {@code env.java.opts} and {@code env.java.opts.all} (every Flink process starts with them;
 * read here for a JVM that did not, such as a tool that builds HA services from a cluster's
 * configuration to find its leader), keys of the same name in the Flink configuration (a zkha
 * extension), and this JVM's system properties (what the ZooKeeper Java client under built-in HA
 * reads). The process-specific {@code env.java.opts.jobmanager} and {@code .taskmanager} are
 * not read: a process that should have them has them as system properties.
 *
 * <p>The plugin hands the result to the core as configuration pairs of the same name, with the
 * {@code env.java.opts*} keys removed (the core would otherwise read their {@code -D} options,
 * the JobManager's included, under this JVM's properties). The core decides what they mean;
 * this class only gathers them. Flink's own keys ({@code security.kerberos.login.*},
 * {@code zookeeper.sasl.*}, {@code high-availability.zookeeper.client.*}) reach the core as
 * they are.
 */
final class ZooKeeperProperties {
    /** The properties the core reads, besides every {@code zookeeper.ssl.*}. */
    static final List<String> NAMES = Collections.unmodifiableList(Arrays.asList(
            "zookeeper.client.secure",
            "zookeeper.sasl.client",
            "zookeeper.sasl.clientconfig",
            "zookeeper.sasl.client.username",
            "zookeeper.server.principal",
            "zookeeper.server.realm",
            "zookeeper.sasl.client.canonicalize.hostname",
            "java.security.auth.login.config",
            "java.security.krb5.conf"));

    /** The JVM option keys whose {@code -D} options every Flink process starts with, weakest first. */
    static final List<String> ALL_PROCESSES_OPTION_KEYS = Collections.unmodifiableList(Arrays.asList(
            "env.java.opts", "env.java.opts.all"));


    private ZooKeeperProperties() {}

    static boolean relevant(String name) {
        return name.startsWith("zookeeper.ssl.") || NAMES.contains(name);
    }

    /**
     * The relevant properties: the {@code -D} options of {@code env.java.opts} and
     * {@code env.java.opts.all}, overridden by keys of those names in the Flink configuration,
     * overridden by this JVM's system properties.
     */
    static Map<String, String> gather(Map<String, String> flinkConfig, Properties system) {
        Map<String, String> out = new LinkedHashMap<>();
        for (String key : ALL_PROCESSES_OPTION_KEYS) {
            String opts = flinkConfig.get(key);
            if (opts == null) {
                continue;
            }
            for (String word : jvmWords(opts)) {
                if (word.startsWith("-D")) {
                    int eq = word.indexOf('=');
                    String name = eq < 0 ? word.substring(2) : word.substring(2, eq);
                    if (relevant(name)) {
                        out.put(name, eq < 0 ? "" : word.substring(eq + 1));
                    }
                }
            }
        }
        for (Map.Entry<String, String> e : flinkConfig.entrySet()) {
            if (relevant(e.getKey())) {
                out.put(e.getKey(), e.getValue());
            }
        }
        for (String name : system.stringPropertyNames()) {
            if (relevant(name)) {
                out.put(name, system.getProperty(name));
            }
        }
        return out;
    }

    /** JVM options split as Flink's start scripts' shell splits them (quotes group, backslash escapes). */
    static List<String> jvmWords(String s) {
        List<String> words = new ArrayList<>();
        StringBuilder cur = new StringBuilder();
        char quote = 0;
        boolean any = false;
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            if (quote != 0 && c == quote) {
                quote = 0;
            } else if (quote == 0 && (c == '\'' || c == '"')) {
                quote = c;
                any = true;
            } else if (c == '\\' && quote != '\'' && i + 1 < s.length()) {
                cur.append(s.charAt(++i));
            } else if (quote == 0 && Character.isWhitespace(c)) {
                if (any || cur.length() > 0) {
                    words.add(cur.toString());
                    cur.setLength(0);
                }
                any = false;
            } else {
                cur.append(c);
            }
        }
        if (any || cur.length() > 0) {
            words.add(cur.toString());
        }
        return words;
    }

    /**
     * The pairs for {@code Native.clientFromFlinkConfig}: the Flink configuration without the
     * JVM option keys, {@code high-availability.zookeeper.client.authorization} as one key per
     * scheme ({@code ...authorization.<scheme>}, read with Flink's own option: its string
     * form is YAML's {@code {digest: 'user:pw'}} in {@code Configuration.toMap()}), the
     * gathered properties, and the converted stores' PEM.
     */
    static Map<String, String> corePairs(Configuration conf, Map<String, String> gathered, TlsStores tls) {
        Map<String, String> out = new LinkedHashMap<>(conf.toMap());
        // The core would read their -D options (the JobManager's too) over this JVM's properties.
        out.keySet().removeIf(k -> k.startsWith("env.java.opts"));
        String auth = HighAvailabilityOptions.ZOOKEEPER_CLIENT_AUTHORIZATION.key();
        if (out.remove(auth) != null) {
            for (Map.Entry<String, String> e : conf.get(HighAvailabilityOptions.ZOOKEEPER_CLIENT_AUTHORIZATION).entrySet()) {
                out.put(auth + "." + e.getKey(), e.getValue());
            }
        }
        out.putAll(gathered);
        if (tls != null) {
            out.putAll(tls.pemProperties());
        }
        return out;
    }
}

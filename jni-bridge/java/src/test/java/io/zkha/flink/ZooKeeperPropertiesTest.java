package io.zkha.flink;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.Arrays;
import java.util.Collections;
import java.util.Map;
import java.util.Properties;
import java.util.TreeMap;

import org.apache.flink.configuration.Configuration;
import org.junit.jupiter.api.Test;

/** What the plugin hands the core of the Flink configuration and this JVM's properties. */
class ZooKeeperPropertiesTest {
    private static Map<String, String> pairs(Map<String, String> flink, Properties jvm) {
        Configuration conf = Configuration.fromMap(flink);
        return new TreeMap<>(ZooKeeperProperties.corePairs(conf, ZooKeeperProperties.gather(conf.toMap(), jvm), null));
    }

    private static Map<String, String> map(String... kv) {
        Map<String, String> m = new TreeMap<>();
        for (int i = 0; i < kv.length; i += 2) {
            m.put(kv[i], kv[i + 1]);
        }
        return m;
    }

    private static Properties properties(String... kv) {
        Properties p = new Properties();
        p.putAll(map(kv));
        return p;
    }

    /**
     * Kerberos, which the core reads itself: Flink's {@code security.kerberos.login.*} and
     * {@code zookeeper.sasl.*} keys as they are, the ZooKeeper client's properties (the JVM's
     * over {@code -D} in {@code env.java.opts.all}), and no JVM option keys.
     */
    @Test
    void kerberosKeysAndPropertiesReachTheCore() {
        Map<String, String> flink = map(
                "security.kerberos.login.keytab", "/etc/security/flink.keytab",
                "security.kerberos.login.principal", "flink/jm@EXAMPLE.COM",
                "security.kerberos.login.use-ticket-cache", "false",
                "security.kerberos.login.contexts", "Client",
                "zookeeper.sasl.service-name", "zookeeper",
                "zookeeper.sasl.login-context-name", "Client");
        Map<String, String> expected = new TreeMap<>(flink);
        flink.put("env.java.opts.all",
                "-Djava.security.krb5.conf=/etc/krb5-flink.conf -Dzookeeper.server.principal=\"zookeeper/zk1@EXAMPLE.COM\"");
        flink.put("env.java.opts.jobmanager", "-Dzookeeper.server.realm=JM.ONLY");
        Properties jvm = properties(
                "zookeeper.sasl.client.username", "zookeeper",
                "zookeeper.sasl.clientconfig", "Client",
                "java.security.auth.login.config", "/tmp/jaas-1.conf",
                "java.security.krb5.conf", "/etc/krb5.conf",
                "user.home", "/home/flink");
        jvm.forEach((k, v) -> expected.put((String) k, (String) v));
        expected.remove("user.home");
        expected.put("zookeeper.server.principal", "zookeeper/zk1@EXAMPLE.COM");
        assertEquals(expected, pairs(flink, jvm));
    }

    /** JVM properties override keys of the same name, which override {@code -D} options. */
    @Test
    void theJvmsPropertiesWin() {
        Map<String, String> flink = map(
                "env.java.opts", "-Dzookeeper.ssl.trustStore.location=/old.pem -Dzookeeper.ssl.keyStore.location=/opts.pem",
                "env.java.opts.all", "-Dzookeeper.ssl.trustStore.location=/all.pem -Dzookeeper.client.secure=true",
                "zookeeper.ssl.keyStore.location", "/key.pem",
                "zookeeper.ssl.hostnameVerification", "true");
        assertEquals(map("zookeeper.client.secure", "true", "zookeeper.ssl.trustStore.location", "/all.pem",
                "zookeeper.ssl.keyStore.location", "/key.pem", "zookeeper.ssl.hostnameVerification", "false"),
                pairs(flink, properties("zookeeper.ssl.hostnameVerification", "false")));
        assertEquals(Collections.emptyMap(), pairs(Collections.<String, String>emptyMap(), new Properties()));
    }

    @Test
    void jvmOptionsSplitAsTheStartScriptsSplitThem() {
        assertEquals(Arrays.asList("-Xmx1g", "-Da=b c", "-Dd=e f", "-Dg=h\"i", "-Dj=", "-Dk", "-Dl=\\m"),
                ZooKeeperProperties.jvmWords("  -Xmx1g '-Da=b c' \"-Dd=e f\" -Dg=h\\\"i -Dj= -Dk '-Dl=\\m' "));
    }
}

package io.zkha.flink;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.UUID;
import java.util.concurrent.TimeUnit;

import io.zkha.jni.Codec;
import io.zkha.jni.Native;
import io.zkha.jni.NoAuthException;
import org.apache.flink.api.common.JobID;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.configuration.HighAvailabilityOptions;
import org.apache.flink.configuration.SecurityOptions;
import org.apache.flink.runtime.highavailability.HighAvailabilityServices;
import org.apache.flink.runtime.leaderretrieval.LeaderRetrievalService;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The plugin on a Kerberos ensemble (SASL GSSAPI required; the test kit's MIT KDC), configured
 * as for Flink's built-in ZooKeeper HA: Flink's keytab login ({@code security.kerberos.login.*}
 * with {@code contexts: Client}) or a JAAS file with {@code Krb5LoginModule}, and
 * {@code -Djava.security.krb5.conf}. The core logs in from the keytab itself (no ticket cache);
 * this JVM never talks to the KDC. One Kerberos ensemble for the JVM: MIT's library reads one
 * krb5.conf per process.
 */
class KerberosHaTest extends SecuredJvmTest {
    private static TestEnsemble zk;

    @TempDir
    Path dir;

    @BeforeAll
    static void kerberosEnsemble() throws Exception {
        zk = TestEnsemble.start(1, "--kerberos");
    }

    @AfterAll
    static void stop() throws Exception {
        zk.close();
    }

    /** A fresh cluster's HA keys, a creator ACL, and the realm's krb5.conf as a JVM option. */
    private Configuration kerberized() throws Exception {
        Configuration conf = new Configuration();
        conf.set(HighAvailabilityOptions.HA_ZOOKEEPER_QUORUM, zk.connectString);
        conf.set(HighAvailabilityOptions.HA_ZOOKEEPER_ROOT, "/flink-" + UUID.randomUUID().toString().substring(0, 8));
        conf.set(HighAvailabilityOptions.HA_CLUSTER_ID, "/cluster");
        conf.set(HighAvailabilityOptions.HA_STORAGE_PATH, Files.createDirectories(dir.resolve("ha")).toUri().toString());
        conf.set(HighAvailabilityOptions.ZOOKEEPER_SESSION_TIMEOUT, Duration.ofSeconds(20));
        conf.set(HighAvailabilityOptions.ZOOKEEPER_CLIENT_ACL, "creator");
        System.setProperty("java.security.krb5.conf", zk.sectionField("kerberos", "krb5_conf"));
        return conf;
    }

    /** Flink's keytab login for ZooKeeper's JAAS context, as a JobManager's configuration has it. */
    private static void keytabLogin(Configuration conf, String keytab, String principal) {
        conf.set(SecurityOptions.KERBEROS_LOGIN_KEYTAB, keytab);
        conf.set(SecurityOptions.KERBEROS_LOGIN_PRINCIPAL, principal);
        conf.set(SecurityOptions.KERBEROS_LOGIN_USETICKETCACHE, false);
        conf.set(SecurityOptions.KERBEROS_LOGIN_CONTEXTS, "Client");
    }

    @Test
    void flinksKeytabLoginLeadsRetrievesAndWritesUnderItsPrincipal() throws Exception {
        Configuration conf = kerberized();
        keytabLogin(conf, zk.field("keytab"), "zkha@EXAMPLE.COM");
        installSecurity(conf);
        String root = conf.get(HighAvailabilityOptions.HA_ZOOKEEPER_ROOT) + "/cluster";
        JobID job = new JobID();
        HighAvailabilityServices taskManager = new ZkhaHaServicesFactory().createHAServices(conf, Runnable::run);
        LeaderRetrievalService retriever = taskManager.getDispatcherLeaderRetriever();
        try (TestServices services = TestServices.leading(conf); ZkhaClient mine = ZkhaClient.connect(conf)) {
            String address = "pekko://flink@jm:6123/user/rpc/dispatcher_0";
            services.election.confirmLeadershipAsync(services.session, address).get(30, TimeUnit.SECONDS);
            ZkhaHaTest.Retrieval retrieval = new ZkhaHaTest.Retrieval();
            retriever.start(retrieval);
            String found = retrieval.next();
            if (found.equals("<none>")) {
                found = retrieval.next();
            }
            assertEquals(address + "@" + services.session, found, "the leader as a TaskManager retrieves it");
            services.services.getCheckpointRecoveryFactory().createCheckpointIDCounter(job).start();
            String counter = root + "/jobs/" + job + "/checkpoint_id_counter";
            assertNotNull(Native.getData(mine.id, counter), "the counter, read by the same principal");

            // Another principal of the realm, with its own keytab, reaches nothing zkha wrote.
            Configuration otherConf = new Configuration(conf);
            // The kit's keytabs are <name>.keytab side by side.
            String otherKeytab = Path.of(zk.field("keytab")).resolveSibling("other.keytab").toString();
            keytabLogin(otherConf, otherKeytab, "other@EXAMPLE.COM");
            otherConf.set(HighAvailabilityOptions.ZOOKEEPER_CLIENT_ACL, "open");
            try (ZkhaClient other = ZkhaClient.connect(otherConf)) {
                String latch = root + "/leader/latch";
                String latchNode = latch + "/" + Codec.strings(Native.getChildren(mine.id, latch)).get(0);
                for (String node : new String[] {latchNode, root + "/leader/dispatcher/connection_info", counter}) {
                    assertThrows(NoAuthException.class, () -> Native.getData(other.id, node), node);
                    assertThrows(NoAuthException.class, () -> Native.put(other.id, node, new byte[] {1}), node);
                    assertThrows(NoAuthException.class, () -> Native.delete(other.id, node), node);
                }
            }
            assertEquals(services.session, services.contender.session, "still leading");
        } finally {
            retriever.stop();
            taskManager.close();
        }
    }

    @Test
    void aJaasFileWithKrb5LoginModuleLeads() throws Exception {
        Configuration conf = kerberized();
        // The kit's JAAS file for Java clients: a Client section, Krb5LoginModule from a keytab.
        System.setProperty("java.security.auth.login.config", zk.field("jaas"));
        installSecurity(conf);
        try (TestServices services = TestServices.leading(conf)) {
            assertNotNull(services.session);
        }
    }

    @Test
    void aPrincipalTheKeytabLacksIsNamed() throws Exception {
        Configuration conf = kerberized();
        keytabLogin(conf, zk.field("keytab"), "nobody@EXAMPLE.COM");
        installSecurity(conf);
        long t0 = System.nanoTime();
        Exception e = assertThrows(Exception.class, () -> new ZkhaHaServicesFactory().createHAServices(conf, Runnable::run));
        long ms = (System.nanoTime() - t0) / 1_000_000;
        System.out.println("a principal the keytab lacks: " + e.getClass().getSimpleName() + " after " + ms + " ms: " + e.getMessage());
        assertEquals(true, String.valueOf(e.getMessage()).contains("nobody@EXAMPLE.COM"), e.getMessage());
        assertEquals(true, ms < 30_000, "failed after " + ms + " ms");
    }
}

package io.zkha.flink;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.InputStream;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.security.KeyStore;
import java.security.cert.CertificateFactory;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.UUID;
import java.util.concurrent.TimeUnit;

import io.zkha.jni.Codec;
import io.zkha.jni.ConfigException;
import io.zkha.jni.Native;
import io.zkha.jni.NoAuthException;
import io.zkha.jni.ZkhaException;
import org.apache.flink.api.common.JobID;
import org.apache.flink.api.common.JobStatus;
import org.apache.flink.configuration.ConfigOption;
import org.apache.flink.configuration.ConfigOptions;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.configuration.HighAvailabilityOptions;
import org.apache.flink.configuration.SecurityOptions;
import org.apache.flink.runtime.checkpoint.CheckpointIDCounter;
import org.apache.flink.runtime.checkpoint.CheckpointProperties;
import org.apache.flink.runtime.checkpoint.CheckpointRecoveryFactory;
import org.apache.flink.runtime.checkpoint.CheckpointRetentionPolicy;
import org.apache.flink.runtime.checkpoint.CheckpointsCleaner;
import org.apache.flink.runtime.checkpoint.CompletedCheckpoint;
import org.apache.flink.runtime.checkpoint.CompletedCheckpointStore;
import org.apache.flink.runtime.highavailability.HighAvailabilityServices;
import org.apache.flink.runtime.highavailability.HighAvailabilityServicesUtils;
import org.apache.flink.runtime.highavailability.zookeeper.CuratorFrameworkWithUnhandledErrorListener;
import org.apache.flink.runtime.leaderelection.LeaderElection;
import org.apache.flink.runtime.leaderretrieval.LeaderRetrievalService;
import org.apache.flink.runtime.state.CompletedCheckpointStorageLocation;
import org.apache.flink.runtime.state.StreamStateHandle;
import org.apache.flink.runtime.state.memory.ByteStreamStateHandle;
import org.apache.flink.runtime.util.ZooKeeperUtils;
import org.apache.flink.shaded.curator5.org.apache.curator.framework.CuratorFramework;
import org.apache.flink.shaded.zookeeper3.org.apache.zookeeper.data.ACL;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * The plugin on a secured ensemble (TLS-only with client certificates, SASL DIGEST-MD5
 * required; the test kit's) configured exactly as Flink's built-in ZooKeeper HA is: the
 * ZooKeeper client's system properties (as {@code env.java.opts.all} would set them), a JAAS
 * file with a {@code Client} section, {@code high-availability.zookeeper.client.acl: creator},
 * and Flink's security modules installed as a Flink entrypoint does before HA services
 * start. Only {@code high-availability.type} differs between zkha and built-in HA here.
 */
class SecuredHaTest extends SecuredJvmTest {
    /** Flink's shaded ZooKeeper client's login module, what a Flink operator's JAAS file names. */
    private static final String DIGEST_LOGIN_MODULE =
            "org.apache.flink.shaded.zookeeper3.org.apache.zookeeper.server.auth.DigestLoginModule";

    private static TestEnsemble zk;

    @TempDir
    Path dir;

    @BeforeAll
    static void secureEnsemble() throws Exception {
        zk = TestEnsemble.start(1, "--tls", "--sasl-digest", "zkha:secret,other:pw2");
    }

    @AfterAll
    static void stop() throws Exception {
        zk.close();
    }

    /** The store formats of the Java client; the kit makes both with the same key and CA. */
    enum Stores {
        JKS("client_jks", "truststore_jks", null),
        PKCS12("client_p12", "truststore_p12", "PKCS12");

        final String keyStore;
        final String trustStore;
        final String type;

        Stores(String keyStore, String trustStore, String type) {
            this.keyStore = keyStore;
            this.trustStore = trustStore;
            this.type = type;
        }
    }

    /**
     * A Flink configuration of a fresh cluster on the secured ensemble, and this JVM's system
     * properties set as an operator sets them for built-in HA (JKS stores typed by their
     * extension, PKCS12 ones by {@code .type}).
     */
    private Configuration secured(Stores stores, String quorum) throws Exception {
        return secured(zk, stores, quorum, true);
    }

    /** As {@link #secured(Stores, String)} on {@code e}; without {@code sasl}, no JAAS file is given. */
    private Configuration secured(TestEnsemble e, Stores stores, String quorum, boolean sasl) throws Exception {
        Configuration conf = new Configuration();
        conf.set(HighAvailabilityOptions.HA_ZOOKEEPER_QUORUM, quorum);
        conf.set(HighAvailabilityOptions.HA_ZOOKEEPER_ROOT, "/flink-" + UUID.randomUUID().toString().substring(0, 8));
        conf.set(HighAvailabilityOptions.HA_CLUSTER_ID, "/cluster");
        conf.set(HighAvailabilityOptions.HA_STORAGE_PATH, Files.createDirectories(dir.resolve("ha")).toUri().toString());
        conf.set(HighAvailabilityOptions.ZOOKEEPER_SESSION_TIMEOUT, Duration.ofSeconds(20));
        conf.set(HighAvailabilityOptions.ZOOKEEPER_CONNECTION_TIMEOUT, Duration.ofSeconds(10));
        conf.set(HighAvailabilityOptions.ZOOKEEPER_CLIENT_ACL, "creator");
        if (sasl) {
            Path jaas = dir.resolve("jaas.conf");
            Files.write(jaas, ("Client {\n  " + DIGEST_LOGIN_MODULE + " required\n  username=\"zkha\"\n  password=\"secret\";\n};\n")
                    .getBytes(StandardCharsets.UTF_8));
            System.setProperty("java.security.auth.login.config", jaas.toString());
        }
        System.setProperty("zookeeper.client.secure", "true");
        System.setProperty("zookeeper.clientCnxnSocket", "ClientCnxnSocketNetty");
        // Flink's ZooKeeper 3.7 client offers TLSv1.2 by default, the kit's 3.9 servers take 1.3.
        System.setProperty("zookeeper.ssl.protocol", "TLSv1.3");
        System.setProperty("zookeeper.ssl.keyStore.location", e.field(stores.keyStore));
        System.setProperty("zookeeper.ssl.keyStore.password", e.sectionField("tls", "password"));
        System.setProperty("zookeeper.ssl.trustStore.location", e.field(stores.trustStore));
        System.setProperty("zookeeper.ssl.trustStore.password", e.sectionField("tls", "password"));
        if (stores.type != null) {
            System.setProperty("zookeeper.ssl.keyStore.type", stores.type);
            System.setProperty("zookeeper.ssl.trustStore.type", stores.type);
        }
        return conf;
    }

    private static HighAvailabilityServices zkha(Configuration conf) throws Exception {
        return new ZkhaHaServicesFactory().createHAServices(conf, Runnable::run);
    }

    private static HighAvailabilityServices builtIn(Configuration conf) throws Exception {
        Configuration c = new Configuration(conf);
        c.set(HighAvailabilityOptions.HA_MODE, "zookeeper");
        return HighAvailabilityServicesUtils.createAvailableOrEmbeddedServices(c, Runnable::run, e -> {
            throw new AssertionError("built-in HA failed", e);
        });
    }

    /** A leading JobManager's writes: leader information, a checkpoint and its counter. */
    private static final class Leader implements AutoCloseable {
        static final String ADDRESS = "pekko://flink@jm:6123/user/rpc/dispatcher_0";
        final LeaderElection election;
        final JobID job = new JobID();
        final UUID session;

        Leader(HighAvailabilityServices services) throws Exception {
            election = services.getDispatcherLeaderElection();
            ZkhaHaTest.Contender contender = new ZkhaHaTest.Contender();
            election.startLeaderElection(contender);
            session = (UUID) contender.next();
            election.confirmLeadershipAsync(session, ADDRESS).get(30, TimeUnit.SECONDS);

            CheckpointRecoveryFactory factory = services.getCheckpointRecoveryFactory();
            CheckpointIDCounter counter = factory.createCheckpointIDCounter(job);
            counter.start();
            long id = counter.getAndIncrement();
            CompletedCheckpointStore store = TestGeneration.openCheckpointStore(factory, job);
            store.addCheckpointAndSubsumeOldestOne(checkpoint(job, id), new CheckpointsCleaner(), () -> {});
            store.shutdown(JobStatus.SUSPENDED, new CheckpointsCleaner());
            // A new run of the job (a new leader, say) recovers it.
            CompletedCheckpointStore again = TestGeneration.openCheckpointStore(factory, job);
            assertEquals(id, again.getLatestCheckpoint().getCheckpointID(), "the checkpoint is recovered");
            again.shutdown(JobStatus.SUSPENDED, new CheckpointsCleaner());
            counter.shutdown(JobStatus.SUSPENDED).get();
        }

        @Override
        public void close() throws Exception {
            election.close();
        }
    }

    static CompletedCheckpoint checkpoint(JobID job, long id) {
        return new CompletedCheckpoint(job, id, 1L, 2L, new java.util.HashMap<>(), null,
                CheckpointProperties.forCheckpoint(CheckpointRetentionPolicy.NEVER_RETAIN_AFTER_TERMINATION),
                new Location(), null);
    }

    /** Where a test checkpoint's metadata would be. */
    static final class Location implements CompletedCheckpointStorageLocation {
        private static final long serialVersionUID = 1L;

        @Override
        public String getExternalPointer() {
            return "test://checkpoint";
        }

        @Override
        public StreamStateHandle getMetadataHandle() {
            return new ByteStreamStateHandle("metadata", new byte[0]);
        }

        @Override
        public void disposeStorageLocation() {}
    }

    /** getACL of {@code path} and every node below it (absolute paths), as sorted sets. */
    private static Map<String, Set<String>> acls(CuratorFramework cf, String path) throws Exception {
        Map<String, Set<String>> out = new TreeMap<>();
        Set<String> acl = new TreeSet<>();
        for (ACL a : cf.getACL().forPath(path)) {
            acl.add(a.getPerms() + " " + a.getId().getScheme() + ":" + a.getId().getId());
        }
        out.put(path, acl);
        for (String child : cf.getChildren().forPath(path)) {
            out.putAll(acls(cf, (path.equals("/") ? "" : path) + "/" + child));
        }
        return out;
    }

    /** Flink's own Curator client (built-in HA's, so the same identities), without namespace. */
    private static CuratorFrameworkWithUnhandledErrorListener curator(Configuration conf) {
        return ZooKeeperUtils.startCuratorFramework(conf, e -> {
            throw new AssertionError("Flink's Curator failed", e);
        });
    }

    /** The node names of a tree, with a cluster's root and the names that vary from run to run made alike. */
    private static Set<String> shape(Map<String, Set<String>> tree, String root, JobID job) {
        Set<String> out = new TreeSet<>();
        for (String p : tree.keySet()) {
            out.add(p.substring(root.length())
                    .replace(job.toString(), "<job>")
                    .replaceAll("_c_[^/]+-latch-\\d+", "<latch>")
                    .replaceAll("/locks/[0-9a-f-]+", "/locks/<lock>"));
        }
        return out;
    }

    @ParameterizedTest
    @EnumSource(Stores.class)
    void leadsAndKeepsCheckpointsWritingTheAclsBuiltInHaWrites(Stores stores) throws Exception {
        Configuration conf = secured(stores, zk.connectString);
        installSecurity(conf);
        assertEquals("true", System.getProperty("zookeeper.sasl.client"), "set by Flink's ZooKeeperModule");
        Configuration flink = new Configuration(conf);
        flink.set(HighAvailabilityOptions.HA_ZOOKEEPER_ROOT, conf.get(HighAvailabilityOptions.HA_ZOOKEEPER_ROOT) + "-builtin");
        String zkhaRoot = conf.get(HighAvailabilityOptions.HA_ZOOKEEPER_ROOT);
        String builtInRoot = flink.get(HighAvailabilityOptions.HA_ZOOKEEPER_ROOT);

        Set<String> creator = new TreeSet<>(Arrays.asList("31 sasl:zkha", "31 x509:" + zk.field("client_subject")));
        HighAvailabilityServices ours = zkha(conf);
        HighAvailabilityServices theirs = builtIn(flink);
        // A TaskManager's HA services, from the same configuration, find the leader.
        HighAvailabilityServices taskManager = zkha(conf);
        LeaderRetrievalService retriever = taskManager.getDispatcherLeaderRetriever();
        try (Leader a = new Leader(ours);
                Leader b = new Leader(theirs);
                CuratorFrameworkWithUnhandledErrorListener c = curator(conf)) {
            ZkhaHaTest.Retrieval retrieval = new ZkhaHaTest.Retrieval();
            retriever.start(retrieval);
            String found = retrieval.next();
            if (found.equals("<none>")) {
                found = retrieval.next();
            }
            assertEquals(Leader.ADDRESS + "@" + a.session, found, "the leader as a TaskManager retrieves it");
            CuratorFramework cf = c.asCuratorFramework().usingNamespace(null);
            Map<String, Set<String>> zkhaAcls = acls(cf, zkhaRoot);
            Map<String, Set<String>> builtInAcls = acls(cf, builtInRoot);
            Set<String> zkhaShape = shape(zkhaAcls, zkhaRoot, a.job);
            Set<String> builtInShape = shape(builtInAcls, builtInRoot, b.job);
            System.out.println("zkha wrote " + zkhaAcls + "\nbuilt-in HA wrote " + builtInAcls);
            assertTrue(zkhaShape.containsAll(Arrays.asList("", "/cluster", "/cluster/leader/latch/<latch>",
                    "/cluster/leader/dispatcher/connection_info", "/cluster/jobs/<job>/checkpoints/0000000000000000001",
                    "/cluster/jobs/<job>/checkpoint_id_counter")), "zkha's nodes: " + zkhaShape);
            assertEquals(builtInShape, zkhaShape, "the same nodes as built-in HA");
            for (Map.Entry<String, Set<String>> e : zkhaAcls.entrySet()) {
                assertEquals(creator, e.getValue(), "getACL " + e.getKey() + " (zkha)");
            }
            for (Map.Entry<String, Set<String>> e : builtInAcls.entrySet()) {
                assertEquals(creator, e.getValue(), "getACL " + e.getKey() + " (built-in HA)");
            }
        } finally {
            retriever.stop();
            taskManager.close();
            ours.close();
            theirs.close();
        }
    }

    /**
     * Another tenant of the ensemble (its own SASL user and certificate, reaching the same
     * ensemble through the same plugin) can neither read, change nor delete what zkha wrote
     * under {@code acl: creator}; the writer itself can.
     */
    @Test
    void anotherIdentityCanNeitherReadChangeNorDeleteTheNodes() throws Exception {
        Configuration conf = secured(Stores.JKS, zk.connectString);
        installSecurity(conf);
        String root = conf.get(HighAvailabilityOptions.HA_ZOOKEEPER_ROOT) + "/cluster";
        JobID job = new JobID();
        try (TestServices services = TestServices.leading(conf); ZkhaClient mine = ZkhaClient.connect(conf)) {
            services.election.confirmLeadershipAsync(services.session, Leader.ADDRESS).get(30, TimeUnit.SECONDS);
            services.services.getCheckpointRecoveryFactory().createCheckpointIDCounter(job).start();
            String counter = root + "/jobs/" + job + "/checkpoint_id_counter";
            String latch = root + "/leader/latch";
            String connectionInfo = root + "/leader/dispatcher/connection_info";

            // The other tenant: user "other" and a certificate of its own from the same CA.
            Path otherJaas = dir.resolve("other.jaas");
            Files.write(otherJaas, ("Client {\n  " + DIGEST_LOGIN_MODULE + " required username=\"other\" password=\"pw2\";\n};\n")
                    .getBytes(StandardCharsets.UTF_8));
            Properties zkhaTenant = (Properties) System.getProperties().clone();
            System.setProperty("java.security.auth.login.config", otherJaas.toString());
            System.setProperty("zookeeper.ssl.keyStore.location", renewedKeyStore(zk, "zkha-other").toString());
            Configuration otherConf = new Configuration(conf);
            otherConf.set(HighAvailabilityOptions.ZOOKEEPER_CLIENT_ACL, "open");
            try (ZkhaClient other = ZkhaClient.connect(otherConf)) {
                System.setProperties(zkhaTenant);
                String latchNode = Codec.strings(Native.getChildren(mine.id, latch)).get(0);
                String[] nodes = {latch + "/" + latchNode, connectionInfo, counter};
                for (String node : nodes) {
                    assertNotNull(Native.getData(mine.id, node), node + " exists and the writer's identity reads it");
                    NoAuthException read = assertThrows(NoAuthException.class, () -> Native.getData(other.id, node), node);
                    System.out.println("another identity reads " + node + ": " + read.getMessage());
                    assertThrows(NoAuthException.class, () -> Native.put(other.id, node, new byte[] {1}), node);
                    assertThrows(NoAuthException.class, () -> Native.delete(other.id, node), node);
                    assertThrows(NoAuthException.class, () -> Native.getChildren(other.id, node), node);
                }
                assertThrows(NoAuthException.class, () -> Native.deleteRecursive(other.id, root), root);
                assertNotNull(Native.getData(mine.id, counter), "still there, and readable by zkha");
                assertEquals(services.session, services.contender.session, "still leading");
            }
            // The writer's identity reads and removes them.
            Native.delete(mine.id, counter);
            assertEquals(null, Native.getData(mine.id, counter));
        }
    }

    /**
     * A trust store without the CA of the servers' certificates fails the connection at once,
     * with a message that names the trust store's key and file.
     */
    @ParameterizedTest
    @EnumSource(Stores.class)
    void aTrustStoreThatDoesNotTrustTheServersIsNamed(Stores stores) throws Exception {
        Configuration conf = secured(stores, zk.connectString);
        // The core tries for a session timeout before it names the cause.
        conf.set(HighAvailabilityOptions.ZOOKEEPER_SESSION_TIMEOUT, Duration.ofSeconds(4));
        Path foreign = foreignTrustStore(stores, zk.sectionField("tls", "password"));
        System.setProperty("zookeeper.ssl.trustStore.location", foreign.toString());
        installSecurity(conf);
        long t0 = System.nanoTime();
        ZkhaException e = assertThrows(ZkhaException.class, () -> zkha(conf));
        long ms = (System.nanoTime() - t0) / 1_000_000;
        System.out.println("foreign trust store: " + e.getClass().getSimpleName() + " after " + ms + " ms: " + e.getMessage());
        assertTrue(e.getMessage().contains("zookeeper.ssl.trustStore.location " + foreign), e.getMessage());
        assertTrue(ms < 30_000, "failed after " + ms + " ms");
    }

    /** A store with one trusted certificate, of a CA that signed nothing the ensemble uses. */
    private Path foreignTrustStore(Stores stores, String password) throws Exception {
        Path d = Files.createDirectories(dir.resolve("foreign"));
        run(d, "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem",
                "-subj", "/CN=another CA/O=elsewhere", "-days", "2");
        KeyStore ks = KeyStore.getInstance(stores.name());
        ks.load(null, null);
        try (InputStream in = Files.newInputStream(d.resolve("ca.pem"))) {
            ks.setCertificateEntry("ca", CertificateFactory.getInstance("X.509").generateCertificate(in));
        }
        Path out = d.resolve(stores == Stores.JKS ? "truststore.jks" : "truststore.p12");
        try (OutputStream o = Files.newOutputStream(out)) {
            ks.store(o, password.toCharArray());
        }
        return out;
    }

    /**
     * The same keys given only as {@code -D} options of {@code env.java.opts.all} in the Flink
     * configuration (a JVM that was not started with them, e.g. a tool that builds the HA
     * services from a cluster's configuration), PKCS12 stores and a password file included.
     */
    @Test
    void theKeysAsJvmOptionsOfTheFlinkConfiguration() throws Exception {
        Configuration conf = secured(Stores.PKCS12, zk.connectString);
        System.setProperties((Properties) savedSystemProperties().clone());
        String pw = zk.sectionField("tls", "password");
        Path passwordFile = dir.resolve("keystore password");
        Files.write(passwordFile, pw.getBytes(StandardCharsets.UTF_8));
        conf.set(JVM_OPTIONS_ALL, "-Xmx1g -Djava.security.auth.login.config=" + dir.resolve("jaas.conf")
                + " -Dzookeeper.client.secure=true"
                + " -Dzookeeper.ssl.keyStore.location=" + zk.field(Stores.PKCS12.keyStore)
                + " '-Dzookeeper.ssl.keyStore.passwordPath=" + passwordFile + "'"
                + " -Dzookeeper.ssl.keyStore.type=PKCS12"
                + " -Dzookeeper.ssl.trustStore.location=" + zk.field(Stores.PKCS12.trustStore)
                + " -Dzookeeper.ssl.trustStore.password=" + pw
                + " -Dzookeeper.ssl.trustStore.type=PKCS12");
        // The JobManager's own options are its JVM's: a wrong one here must not count.
        conf.set(JVM_OPTIONS_JOBMANAGER, "-Dzookeeper.ssl.trustStore.location=/nowhere.jks");
        assertEquals(null, System.getProperty("zookeeper.client.secure"));
        try (HighAvailabilityServices services = zkha(conf); Leader leader = new Leader(services)) {
            assertNotNull(leader.session);
        }
    }

    private static final ConfigOption<String> JVM_OPTIONS_ALL = ConfigOptions.key("env.java.opts.all").stringType().noDefaultValue();
    private static final ConfigOption<String> JVM_OPTIONS_JOBMANAGER =
            ConfigOptions.key("env.java.opts.jobmanager").stringType().noDefaultValue();

    @Test
    void aMissingKeyStoreIsNamedWithItsKey() throws Exception {
        Configuration conf = secured(Stores.JKS, zk.connectString);
        String missing = dir.resolve("jobmanager.jks").toString();
        System.setProperty("zookeeper.ssl.keyStore.location", missing);
        installSecurity(conf);
        ConfigException e = assertThrows(ConfigException.class, () -> zkha(conf));
        assertEquals("zookeeper.ssl.keyStore.location: the JKS store " + missing + " does not exist", e.getMessage());
    }

    @ParameterizedTest
    @EnumSource(Stores.class)
    void aWrongStorePasswordIsNamedWithoutTheSecret(Stores stores) throws Exception {
        Configuration conf = secured(stores, zk.connectString);
        System.setProperty("zookeeper.ssl.keyStore.password", "hunter2-wrong");
        installSecurity(conf);
        ConfigException e = assertThrows(ConfigException.class, () -> zkha(conf));
        assertEquals("zookeeper.ssl.keyStore.password: wrong password for the " + stores.name() + " store "
                + zk.field(stores.keyStore) + " (zookeeper.ssl.keyStore.location)", e.getMessage());
        assertFalse(e.getMessage().contains("hunter2"), e.getMessage());
    }

    @Test
    void aMissingJaasSectionNamedInFlinkConfigIsAnError() throws Exception {
        Configuration conf = secured(Stores.JKS, zk.connectString);
        conf.set(SecurityOptions.ZOOKEEPER_SASL_LOGIN_CONTEXT_NAME, "ZkClient");
        installSecurity(conf);
        assertEquals("ZkClient", System.getProperty("zookeeper.sasl.clientconfig"), "set by Flink's ZooKeeperModule");
        ConfigException e = assertThrows(ConfigException.class, () -> zkha(conf));
        String jaas = dir.resolve("jaas.conf").toString();
        assertTrue(e.getMessage().contains("JAAS file " + jaas + " has no section \"ZkClient\""), e.getMessage());
    }

    /**
     * The stores are re-read by a thread of their own ({@code zkha-tls-stores <root>}, as a
     * thread dump shows it); {@code high-availability.zkha.tls.store-check-interval: 0} turns
     * it off.
     */
    @Test
    void aZeroStoreCheckIntervalNeverReReadsTheStores() throws Exception {
        Configuration conf = secured(Stores.JKS, zk.connectString);
        installSecurity(conf);
        String root;
        try (ZkhaClient watching = ZkhaClient.connect(conf)) {
            root = watching.root;
            assertEquals(1, storeThreads(root), "the default re-reads the stores");
        }
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(5);
        while (storeThreads(root) > 0 && System.nanoTime() < deadline) {
            Thread.sleep(20);
        }
        assertEquals(0, storeThreads(root), "the re-reading ends with the client");
        conf.setString("high-availability.zkha.tls.store-check-interval", "0 s");
        try (ZkhaClient fixed = ZkhaClient.connect(conf)) {
            assertEquals(0, storeThreads(fixed.root), "0 never re-reads them");
        }
        conf.setString("high-availability.zkha.tls.store-check-interval", "soon");
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> ZkhaClient.connect(conf));
        assertTrue(e.getMessage().contains("high-availability.zkha.tls.store-check-interval"), e.getMessage());
    }

    private static long storeThreads(String root) {
        return Thread.getAllStackTraces().keySet().stream()
                .filter(t -> t.isAlive() && t.getName().equals("zkha-tls-stores " + root))
                .count();
    }

    @Test
    void noClientSectionOnASaslOnlyEnsembleSaysWhatIsMissing() throws Exception {
        Configuration conf = secured(Stores.JKS, zk.connectString);
        Files.write(dir.resolve("jaas.conf"), ("KafkaClient {\n  " + DIGEST_LOGIN_MODULE
                + " required username=\"zkha\" password=\"secret\";\n};\n").getBytes(StandardCharsets.UTF_8));
        installSecurity(conf);
        long t0 = System.nanoTime();
        ZkhaException e = assertThrows(ZkhaException.class, () -> zkha(conf));
        long ms = (System.nanoTime() - t0) / 1_000_000;
        System.out.println("no Client section: " + e.getClass().getSimpleName() + " after " + ms + " ms: " + e.getMessage());
        assertTrue(e.getMessage().contains("SASL"), e.getMessage());
        assertTrue(ms < 30_000, "failed after " + ms + " ms");
    }

    /**
     * The converted JKS key store is read again when its file changes: the next connection
     * shows the new certificate. On an ensemble with TLS alone (its identity is the
     * certificate's; the JAAS file is Flink's JaasModule's empty one), so that the renewed
     * certificate of another subject is the whole identity of the next connection.
     */
    @Test
    void aChangedKeyStoreIsUsedFromTheNextConnection() throws Exception {
        try (TestEnsemble tlsOnly = TestEnsemble.start(1, "--tls")) {
            String proxy = tlsOnly.kit(Arrays.asList("proxy"), "start");
            String proxyConnect = proxy.replaceAll("(?s).*\"connect_string\":\\s*\"([^\"]+)\".*", "$1");
            String proxyId = proxy.replaceAll("(?s).*\"proxy\":\\s*(\\d+).*", "$1");
            Configuration conf = secured(tlsOnly, Stores.JKS, proxyConnect, false);
            // A second identity (addAuth), so that the renewed certificate of another subject
            // still reaches the nodes the first one wrote under the creator ACL.
            conf.set(HighAvailabilityOptions.ZOOKEEPER_CLIENT_AUTHORIZATION, java.util.Collections.singletonMap("digest", "flink:pw"));
            String digest = "31 digest:flink:" + java.util.Base64.getEncoder().encodeToString(
                    java.security.MessageDigest.getInstance("SHA1").digest("flink:pw".getBytes(StandardCharsets.UTF_8)));
            Path jks = dir.resolve("jobmanager.jks");
            Files.copy(Path.of(tlsOnly.field("client_jks")), jks);
            System.setProperty("zookeeper.ssl.keyStore.location", jks.toString());
            installSecurity(conf);
            assertTrue(System.getProperty("java.security.auth.login.config").contains("jaas-"), "Flink's JaasModule's file");
            conf.set(ZkhaClient.TLS_STORE_CHECK_INTERVAL, Duration.ofMillis(100));
            String jobs = conf.get(HighAvailabilityOptions.HA_ZOOKEEPER_ROOT) + "/cluster/jobs";
            try (TestServices services = TestServices.leading(conf);
                    CuratorFrameworkWithUnhandledErrorListener c = curator(conf)) {
                CuratorFramework cf = c.asCuratorFramework().usingNamespace(null);
                JobID first = new JobID();
                services.services.getCheckpointRecoveryFactory().createCheckpointIDCounter(first).start();
                assertEquals(new TreeSet<>(Arrays.asList(digest, "31 x509:O=zkha,CN=zkha-client")),
                        acls(cf, jobs + "/" + first).get(jobs + "/" + first));

                // A renewed certificate of another subject, signed by the same CA, replaces the store's file.
                Path renewed = renewedKeyStore(tlsOnly, "zkha-client-2");
                Files.move(renewed, jks, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
                Thread.sleep(1_000);
                tlsOnly.kit(Arrays.asList("proxy"), "cut", proxyId);
                JobID second = new JobID();
                long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
                while (true) {
                    try {
                        services.services.getCheckpointRecoveryFactory().createCheckpointIDCounter(second).start();
                        break;
                    } catch (Exception e) {
                        if (System.nanoTime() > deadline) {
                            throw e;
                        }
                        Thread.sleep(200);
                    }
                }
                assertEquals(new TreeSet<>(Arrays.asList(digest, "31 x509:O=zkha,CN=zkha-client-2")),
                        acls(cf, jobs + "/" + second).get(jobs + "/" + second),
                        "a node written after the reconnect carries the renewed certificate's identity");
                assertEquals(services.session, services.contender.session, "leadership kept over the reconnect");
            }
        }
    }

    /** A JKS key store with a new key and a certificate for {@code cn} from the kit's CA. */
    private Path renewedKeyStore(TestEnsemble zk, String cn) throws Exception {
        Path d = Files.createDirectories(dir.resolve("renewed"));
        String pw = zk.sectionField("tls", "password");
        run(d, "openssl", "req", "-newkey", "rsa:2048", "-nodes", "-keyout", "k.key", "-out", "c.csr",
                "-subj", "/CN=" + cn + "/O=zkha");
        Files.write(d.resolve("c.ext"), "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=clientAuth\n"
                .getBytes(StandardCharsets.US_ASCII));
        run(d, "openssl", "x509", "-req", "-in", "c.csr", "-CA", zk.field("ca_cert"), "-CAkey", zk.field("ca_key"),
                "-set_serial", "4242", "-days", "2", "-extfile", "c.ext", "-out", "c.pem");
        run(d, "openssl", "pkcs12", "-export", "-in", "c.pem", "-inkey", "k.key", "-certfile", zk.field("ca_cert"),
                "-name", "client", "-out", "c.p12", "-passout", "pass:" + pw);
        run(d, "keytool", "-importkeystore", "-srckeystore", "c.p12", "-srcstoretype", "PKCS12", "-srcstorepass", pw,
                "-destkeystore", "c.jks", "-deststoretype", "JKS", "-deststorepass", pw, "-noprompt");
        return d.resolve("c.jks");
    }

    private static void run(Path dir, String... cmd) throws Exception {
        Process p = new ProcessBuilder(cmd).directory(dir.toFile()).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertEquals(0, p.waitFor(), String.join(" ", cmd) + ": " + out);
    }

    // ---- the store conversion alone (the kit's files, no connection) -----------------------

    private static Map<String, String> props(String... kv) {
        Map<String, String> m = new TreeMap<>();
        m.put("zookeeper.client.secure", "true");
        for (int i = 0; i < kv.length; i += 2) {
            m.put(kv[i], kv[i + 1]);
        }
        return m;
    }

    @Test
    void storesConvertToPemAsZooKeeperTypesThem() throws Exception {
        String pw = zk.sectionField("tls", "password");
        // JKS by extension, PKCS12 by type; the key as PKCS#8 and the chain, the CA as a certificate.
        TlsStores jks = TlsStores.load(props("zookeeper.ssl.keyStore.location", zk.field("client_jks"),
                "zookeeper.ssl.keyStore.password", pw, "zookeeper.ssl.trustStore.location", zk.field("truststore_jks"),
                "zookeeper.ssl.trustStore.password", pw));
        String key = jks.pemProperties().get(TlsStores.KEY_STORE_PEM);
        assertTrue(key.startsWith("-----BEGIN PRIVATE KEY-----\n"), key.substring(0, 40));
        assertEquals(2, count(key, "-----BEGIN CERTIFICATE-----"), "client certificate and CA");
        String ca = new String(Files.readAllBytes(Path.of(zk.field("ca_cert"))), StandardCharsets.US_ASCII).trim();
        assertEquals(ca, jks.pemProperties().get(TlsStores.TRUST_STORE_PEM).trim());
        Path passwordFile = dir.resolve("password");
        Files.write(passwordFile, (pw + System.lineSeparator()).getBytes(StandardCharsets.UTF_8));
        TlsStores p12 = TlsStores.load(props("zookeeper.ssl.keyStore.location", zk.field("client_p12"),
                "zookeeper.ssl.keyStore.type", "pkcs12", "zookeeper.ssl.keyStore.passwordPath", passwordFile.toString(),
                "zookeeper.ssl.trustStore.location", zk.field("ca_cert")));
        assertEquals(key, p12.pemProperties().get(TlsStores.KEY_STORE_PEM), "the same key and chain as the JKS store");
        assertFalse(p12.pemProperties().containsKey(TlsStores.TRUST_STORE_PEM), "a PEM store is the core's to read");
        // No trust store: the JDK's default trust, as the Java client.
        TlsStores jdk = TlsStores.load(props("zookeeper.ssl.keyStore.location", zk.field("client_jks"),
                "zookeeper.ssl.keyStore.password", pw));
        assertTrue(count(jdk.pemProperties().get(TlsStores.TRUST_STORE_PEM), "-----BEGIN CERTIFICATE-----") > 10);
        // No TLS: nothing read.
        assertEquals(null, TlsStores.load(new TreeMap<>()));
    }

    /**
     * A changed trust store is read again and its PEM pushed; one caught half-written is an
     * error that changes nothing and is tried again at the next check.
     */
    @Test
    void changedStoresAreReadAgainAndABrokenOneIsRetried() throws Exception {
        String pw = zk.sectionField("tls", "password");
        Path trust = dir.resolve("trust.jks");
        Files.copy(Path.of(zk.field("truststore_jks")), trust);
        TlsStores stores = TlsStores.load(props("zookeeper.ssl.keyStore.location", zk.field("client_p12"),
                "zookeeper.ssl.keyStore.password", pw, "zookeeper.ssl.trustStore.location", trust.toString(),
                "zookeeper.ssl.trustStore.password", pw));
        List<Map<String, String>> pushed = new ArrayList<>();
        assertEquals(Set.of(), stores.refresh(pushed::add), "nothing changed");

        Files.write(trust, new byte[] {1, 2, 3});
        assertThrows(ConfigException.class, () -> stores.refresh(pushed::add));
        assertEquals(List.of(), pushed, "a broken store is not pushed");

        Path foreign = foreignTrustStore(Stores.JKS, pw);
        Files.copy(foreign, trust, StandardCopyOption.REPLACE_EXISTING);
        assertEquals(Set.of("zookeeper.ssl.trustStore.location " + trust), stores.refresh(pushed::add));
        String ca = new String(Files.readAllBytes(dir.resolve("foreign/ca.pem")), StandardCharsets.US_ASCII).trim();
        assertEquals(List.of(Map.of(TlsStores.TRUST_STORE_PEM, ca + "\n")), pushed, "the new CA alone is pushed");
        assertEquals(ca + "\n", stores.pemProperties().get(TlsStores.TRUST_STORE_PEM));
        assertEquals(Set.of(), stores.refresh(pushed::add), "and taken over");
    }

    @Test
    void storesThatDoNotConvertAreNamed() throws Exception {
        String pw = zk.sectionField("tls", "password");
        String trust = zk.field("truststore_jks");
        ConfigException e = assertThrows(ConfigException.class, () -> TlsStores.load(props(
                "zookeeper.ssl.keyStore.location", trust, "zookeeper.ssl.keyStore.password", pw,
                "zookeeper.ssl.trustStore.location", trust, "zookeeper.ssl.trustStore.password", pw)));
        assertTrue(e.getMessage().startsWith("zookeeper.ssl.keyStore.location: the JKS store " + trust
                + " has no private key entry"), e.getMessage());
        e = assertThrows(ConfigException.class, () -> TlsStores.load(props(
                "zookeeper.ssl.trustStore.location", "/etc/zk/trust.bcfks")));
        assertTrue(e.getMessage().startsWith("zookeeper.ssl.trustStore.location: /etc/zk/trust.bcfks is a BCFKS store,"
                + " which zkha cannot read"), e.getMessage());
        e = assertThrows(ConfigException.class, () -> TlsStores.load(props(
                "zookeeper.ssl.trustStore.location", "/etc/zk/trust.pfx")));
        assertTrue(e.getMessage().startsWith("zookeeper.ssl.trustStore.location: cannot tell the type of /etc/zk/trust.pfx"),
                e.getMessage());
        e = assertThrows(ConfigException.class, () -> TlsStores.load(props(
                "zookeeper.ssl.trustStore.location", trust, "zookeeper.ssl.trustStore.type", "PFX")));
        assertTrue(e.getMessage().startsWith("zookeeper.ssl.trustStore.type: PFX is not"), e.getMessage());
        Path unreadable = dir.resolve("empty.jks");
        Files.write(unreadable, new byte[] {1, 2, 3});
        e = assertThrows(ConfigException.class, () -> TlsStores.load(props(
                "zookeeper.ssl.trustStore.location", unreadable.toString())));
        assertTrue(e.getMessage().startsWith("zookeeper.ssl.trustStore.location: " + unreadable + " is not a readable JKS store"),
                e.getMessage());
        assertNotNull(zk);
    }

    private static int count(String s, String what) {
        int n = 0;
        for (int i = s.indexOf(what); i >= 0; i = s.indexOf(what, i + 1)) {
            n++;
        }
        return n;
    }
}

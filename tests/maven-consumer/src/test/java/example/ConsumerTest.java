package example;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;

import io.zkha.flink.ZkhaHaServicesFactory;
import io.zkha.jni.Native;
import java.nio.file.Path;
import java.nio.file.Paths;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.runtime.highavailability.ClientHighAvailabilityServices;
import org.apache.flink.runtime.highavailability.HighAvailabilityServicesFactory;
import org.junit.jupiter.api.Test;

/** What a build depending on io.zkha:zkha-flink gets from the repository it resolved it from. */
class ConsumerTest {

    @Test
    void theResolvedArtifactIsThePluginWithItsNatives() throws Exception {
        String version = System.getProperty("zkha.version");
        Path jar = Paths.get(ZkhaHaServicesFactory.class.getProtectionDomain().getCodeSource().getLocation().toURI());
        assertEquals(Paths.get("io", "zkha", "zkha-flink", version, "zkha-flink-" + version + ".jar"),
                jar.subpath(jar.getNameCount() - 5, jar.getNameCount()),
                "the plugin class comes from the repository's zkha-flink jar: " + jar);

        // As a Flink client builds its HA services: the natives inside the jar load and open
        // a ZooKeeper session on the test ensemble.
        String connect = System.getProperty("zkha.connect");
        Configuration conf = new Configuration();
        conf.setString("high-availability.type", ZkhaHaServicesFactory.class.getName());
        conf.setString("high-availability.zookeeper.quorum", connect);
        conf.setString("high-availability.cluster-id", "maven-consumer");
        HighAvailabilityServicesFactory factory = new ZkhaHaServicesFactory();
        try (ClientHighAvailabilityServices services = factory.createClientHAServices(conf)) {
            assertNotNull(services.getClusterRestEndpointLeaderRetriever());
        }
        long client = Native.clientConnect(connect, 10_000, false);
        try {
            assertNotEquals(0L, Native.clientSessionId(client), "a ZooKeeper session on " + connect);
        } finally {
            Native.clientClose(client);
        }
    }
}

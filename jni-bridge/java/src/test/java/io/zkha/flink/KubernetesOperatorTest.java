package io.zkha.flink;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.apache.flink.configuration.Configuration;
import org.apache.flink.configuration.HighAvailabilityOptions;
import org.apache.flink.runtime.jobmanager.HighAvailabilityMode;
import org.junit.jupiter.api.Test;

/**
 * What the Flink Kubernetes Operator concludes about a cluster on zkha (docs/flink-versions.md,
 * "The Flink Kubernetes Operator"), on the Flink version of the build's profile. The operator
 * decides from Flink's own {@link HighAvailabilityMode}: whether HA is on
 * ({@code HighAvailabilityMode.isHighAvailabilityModeActivated}, which allows {@code last-state}
 * upgrades and several JobManager replicas), and whether it looks for HA metadata at all
 * ({@code FlinkUtils.isZookeeperHAActivated}, in its 1.7.0 sources from Maven Central:
 * {@code HighAvailabilityMode.fromConfig(configuration).equals(HighAvailabilityMode.ZOOKEEPER)};
 * {@code isKubernetesHAActivated} compares the type with {@code kubernetes} and Flink's
 * Kubernetes factory). The operator's own jar is not used here: only 1.7.0 (built for Flink
 * 1.17) is served on Maven Central for this build, and its class needs the fabric8 and
 * operator-framework closure. If Flink ever maps a factory to another mode, this fails and the
 * page must be read again.
 */
class KubernetesOperatorTest {
    private static Configuration ha(String type) {
        Configuration conf = new Configuration();
        conf.set(HighAvailabilityOptions.HA_MODE, type);
        return conf;
    }

    @Test
    void theOperatorSeesHaOnButLooksForNoZooKeeperMetadata() {
        Configuration zkha = ha(ZkhaHaServicesFactory.class.getName());
        assertEquals(HighAvailabilityMode.FACTORY_CLASS, HighAvailabilityMode.fromConfig(zkha));
        assertTrue(HighAvailabilityMode.isHighAvailabilityModeActivated(zkha),
                "HA on: last-state upgrades and JobManager replicas are allowed");
        assertNotEquals(HighAvailabilityMode.ZOOKEEPER, HighAvailabilityMode.fromConfig(zkha),
                "FlinkUtils.isZookeeperHAActivated is false: no HA metadata is looked for or deleted");

        Configuration builtIn = ha("zookeeper");
        assertEquals(HighAvailabilityMode.ZOOKEEPER, HighAvailabilityMode.fromConfig(builtIn),
                "built-in ZooKeeper HA, for contrast: the operator reads its metadata");
    }
}

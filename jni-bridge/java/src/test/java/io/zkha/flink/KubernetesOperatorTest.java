package io.zkha.flink;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.apache.flink.configuration.Configuration;
import org.apache.flink.configuration.HighAvailabilityOptions;
import org.apache.flink.kubernetes.operator.utils.FlinkUtils;
import org.apache.flink.runtime.jobmanager.HighAvailabilityMode;
import org.junit.jupiter.api.Test;

/**
 * What the Flink Kubernetes Operator concludes about a cluster on zkha (docs/flink-versions.md,
 * "The Flink Kubernetes Operator"), asked of the operator's own classes (1.7.0 from Maven
 * Central, the only release served there; its {@code FlinkUtils} is unchanged in this respect up
 * to 1.16) on the Flink version of the build's profile. The operator decides two things from
 * {@code high-availability.type}: whether HA is on (Flink's
 * {@code HighAvailabilityMode.isHighAvailabilityModeActivated}: {@code last-state} upgrades and
 * several JobManager replicas are allowed), and whether it looks for HA metadata at all
 * ({@code FlinkUtils.isZookeeperHAActivated} / {@code isKubernetesHAActivated}: only then does
 * {@code isHaMetadataAvailable} look, and {@code deleteHAData} delete). If either answer
 * changes, this fails and the page must be read again.
 */
class KubernetesOperatorTest {
    private static Configuration ha(String type) {
        Configuration conf = new Configuration();
        conf.set(HighAvailabilityOptions.HA_MODE, type);
        return conf;
    }

    @Test
    void theOperatorSeesHaOnButLooksForNoHaMetadata() {
        Configuration zkha = ha(ZkhaHaServicesFactory.class.getName());
        assertEquals(HighAvailabilityMode.FACTORY_CLASS, HighAvailabilityMode.fromConfig(zkha));
        assertTrue(HighAvailabilityMode.isHighAvailabilityModeActivated(zkha),
                "HA on: last-state upgrades and JobManager replicas are allowed");
        assertFalse(FlinkUtils.isZookeeperHAActivated(zkha),
                "no ZooKeeper HA metadata is looked for or deleted by the operator");
        assertFalse(FlinkUtils.isKubernetesHAActivated(zkha),
                "no Kubernetes HA metadata is looked for or deleted by the operator");
    }

    @Test
    void builtInHaForContrast() {
        assertTrue(FlinkUtils.isZookeeperHAActivated(ha("zookeeper")),
                "built-in ZooKeeper HA: the operator reads and deletes its metadata");
        assertTrue(FlinkUtils.isKubernetesHAActivated(ha("kubernetes")));
        assertFalse(FlinkUtils.isZookeeperHAActivated(ha("kubernetes")));
    }
}

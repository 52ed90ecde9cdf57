package io.zkha.flink;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Set;

import org.apache.flink.configuration.Configuration;
import org.apache.flink.runtime.highavailability.HighAvailabilityServices;
import org.apache.flink.runtime.highavailability.HighAvailabilityServicesFactory;
import org.junit.jupiter.api.Test;

/** The generation zkha picks for the Flink on the class path (the profile's flink-runtime). */
class FlinkGenerationTest extends RealZooKeeperTest {
    /** The Flink version the build put on the class path. */
    static String flinkVersion() {
        return System.getProperty("flink.test.version", "2.3.0");
    }

    /** The generation of that version. */
    static FlinkGeneration expected() {
        String v = flinkVersion();
        if (v.startsWith("1.20.")) {
            return FlinkGeneration.FLINK_1_20;
        }
        return v.startsWith("2.3.") ? FlinkGeneration.FLINK_2_3 : FlinkGeneration.FLINK_2_0;
    }

    @Test
    void detectsTheFlinkOnTheClassPath() {
        assertEquals(flinkVersion(), FlinkGeneration.flinkVersion(), "Flink's own version information");
        assertEquals(expected(), FlinkGeneration.current());
    }

    @Test
    void theFactoryMakesThatGenerationsServices() throws Exception {
        Configuration conf = zk.flinkConfig(storage);
        HighAvailabilityServices services = new ZkhaHaServicesFactory().createHAServices(conf, Runnable::run);
        try {
            assertEquals(expected().servicesClass, services.getClass().getName());
            assertEquals(Set.of(), FlinkGeneration.unimplemented(services.getClass()), "implements all of this Flink's HA services");
        } finally {
            services.close();
        }
    }

    /** What a future Flink's new abstract method would look like to the check. */
    abstract static class Incomplete implements HighAvailabilityServicesFactory {}

    @Test
    void aMethodNoClassImplementsIsFound() {
        assertEquals(Set.of("createHAServices(" + Configuration.class.getName() + ", java.util.concurrent.Executor)"),
                FlinkGeneration.unimplemented(Incomplete.class));
        assertTrue(FlinkGeneration.unimplemented(ZkhaHaServicesFactory.class).isEmpty());
    }
}

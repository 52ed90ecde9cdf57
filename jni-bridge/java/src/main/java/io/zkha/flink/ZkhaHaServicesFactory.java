package io.zkha.flink;

import java.util.concurrent.Executor;

import org.apache.flink.configuration.Configuration;
import org.apache.flink.runtime.blob.BlobUtils;
import org.apache.flink.runtime.highavailability.ClientHighAvailabilityServices;
import org.apache.flink.runtime.highavailability.HighAvailabilityServices;
import org.apache.flink.runtime.highavailability.HighAvailabilityServicesFactory;

/**
 * Entry point named in {@code high-availability.type: io.zkha.flink.ZkhaHaServicesFactory},
 * on Flink 1.20, 2.0, 2.1, 2.2 and 2.3 alike: it picks the classes of the Flink it runs in
 * ({@link FlinkGeneration}) and fails start-up on any other Flink, naming its version. The
 * usual {@code high-availability.zookeeper.*} keys apply with Flink's defaults; zkha's own keys
 * live under {@code high-availability.zkha.*}. Invalid values raise
 * {@link io.zkha.jni.ConfigException} naming the key.
 */
public class ZkhaHaServicesFactory implements HighAvailabilityServicesFactory {
    /** Flink instantiates the factory reflectively. */
    public ZkhaHaServicesFactory() {}

    @Override
    public HighAvailabilityServices createHAServices(Configuration configuration, Executor executor) throws Exception {
        FlinkGeneration.current();
        ZkhaClient client = ZkhaClient.connect(configuration);
        try {
            client.publishConfigVersion();
            return FlinkGeneration.createServices(client, configuration, executor, BlobUtils.createBlobStoreFromConfig(configuration));
        } catch (Exception | Error e) {
            client.close();
            throw e;
        }
    }

    @Override
    public ClientHighAvailabilityServices createClientHAServices(Configuration configuration) {
        FlinkGeneration.current();
        return new ZkhaClientHaServices(ZkhaClient.connect(configuration));
    }
}

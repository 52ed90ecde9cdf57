package io.zkha.flink;

import org.apache.flink.runtime.highavailability.ClientHighAvailabilityServices;
import org.apache.flink.runtime.leaderretrieval.DefaultLeaderRetrievalService;
import org.apache.flink.runtime.leaderretrieval.LeaderRetrievalService;

/** What a Flink client needs: the REST endpoint's leader, nothing more. */
final class ZkhaClientHaServices implements ClientHighAvailabilityServices {
    private final ZkhaClient client;

    ZkhaClientHaServices(ZkhaClient client) {
        this.client = client;
    }

    @Override
    public LeaderRetrievalService getClusterRestEndpointLeaderRetriever() {
        return new DefaultLeaderRetrievalService(
                new ZkhaLeaderRetrievalDriver.Factory(client, client.path("leader/rest_server/connection_info")));
    }

    @Override
    public void close() {
        client.close();
    }
}

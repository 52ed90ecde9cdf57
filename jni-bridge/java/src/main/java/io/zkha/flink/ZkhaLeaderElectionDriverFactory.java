package io.zkha.flink;

import org.apache.flink.runtime.leaderelection.LeaderElectionDriver;
import org.apache.flink.runtime.leaderelection.LeaderElectionDriverFactory;

/** Creates the one {@link ZkhaLeaderElectionDriver} of a JobManager process. */
final class ZkhaLeaderElectionDriverFactory implements LeaderElectionDriverFactory {
    private final ZkhaClient client;

    ZkhaLeaderElectionDriverFactory(ZkhaClient client) {
        this.client = client;
    }

    @Override
    public LeaderElectionDriver create(LeaderElectionDriver.Listener listener) {
        return new ZkhaLeaderElectionDriver(client, listener);
    }
}

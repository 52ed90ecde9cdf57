package io.zkha.flink;

import java.util.List;
import java.util.UUID;

import io.zkha.jni.Codec;
import io.zkha.jni.Native;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.runtime.highavailability.HighAvailabilityServices;
import org.apache.flink.runtime.leaderelection.LeaderElection;

/**
 * zkha's JobManager HA services as Flink makes them (through the factory, so the classes of the
 * Flink on the class path), leading through their dispatcher election as a JobManager does (the
 * stores' writes are fenced on that leadership).
 */
final class TestServices implements AutoCloseable {
    final HighAvailabilityServices services;
    final LeaderElection election;
    final ZkhaHaTest.Contender contender = new ZkhaHaTest.Contender();
    final UUID session;

    private TestServices(HighAvailabilityServices services) throws Exception {
        this.services = services;
        this.election = services.getDispatcherLeaderElection();
        election.startLeaderElection(contender);
        this.session = (UUID) contender.next();
    }

    static TestServices leading(Configuration conf) throws Exception {
        return new TestServices(new ZkhaHaServicesFactory().createHAServices(conf, Runnable::run));
    }

    @Override
    public void close() throws Exception {
        election.close();
        services.close();
    }

    /** The children of a znode; null if it does not exist. */
    static List<String> children(ZkhaClient client, String path) {
        if (Native.getData(client.id, path) == null) {
            return null;
        }
        return Codec.strings(Native.getChildren(client.id, path));
    }
}

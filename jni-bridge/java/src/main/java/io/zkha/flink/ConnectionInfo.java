package io.zkha.flink;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.ObjectInputStream;
import java.io.ObjectOutputStream;
import java.util.UUID;

import org.apache.flink.runtime.leaderelection.LeaderInformation;

/**
 * The payload of Flink's {@code connection_info} znodes, exactly as Flink's built-in ZooKeeper HA
 * writes it: a Java serialization stream of {@code writeUTF(address)} then
 * {@code writeObject(UUID)}. Empty or missing data means "no leader".
 */
public final class ConnectionInfo {
    private ConnectionInfo() {}

    /** Serializes leader information (non-empty). */
    public static byte[] encode(LeaderInformation info) throws IOException {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        try (ObjectOutputStream out = new ObjectOutputStream(bytes)) {
            out.writeUTF(info.getLeaderAddress());
            out.writeObject(info.getLeaderSessionID());
        }
        return bytes.toByteArray();
    }

    /** Reads leader information; empty for null or zero-length data. */
    public static LeaderInformation decode(byte[] data) throws IOException {
        if (data == null || data.length == 0) {
            return LeaderInformation.empty();
        }
        try (ObjectInputStream in = new ObjectInputStream(new ByteArrayInputStream(data))) {
            String address = in.readUTF();
            UUID id = (UUID) in.readObject();
            return LeaderInformation.known(id, address);
        } catch (ClassNotFoundException | ClassCastException e) {
            throw new IOException("connection_info of " + data.length + " bytes is not Flink's format", e);
        }
    }
}

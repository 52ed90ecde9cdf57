package io.zkha.jni;

/** Thrown for any other error ZooKeeper or its client library reports. */
public class ZooKeeperException extends ZkhaException {
    private static final long serialVersionUID = 1L;

    /** Creates the exception with the core's message. */
    public ZooKeeperException(String message) {
        super(message);
    }
}

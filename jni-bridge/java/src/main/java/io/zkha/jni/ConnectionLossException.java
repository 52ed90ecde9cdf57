package io.zkha.jni;

/** Thrown when the connection to ZooKeeper was lost; the outcome is unknown. */
public class ConnectionLossException extends ZkhaException {
    private static final long serialVersionUID = 1L;

    /** Creates the exception with the core's message. */
    public ConnectionLossException(String message) {
        super(message);
    }
}

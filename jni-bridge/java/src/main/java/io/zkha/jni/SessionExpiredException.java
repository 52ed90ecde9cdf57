package io.zkha.jni;

/** Thrown when the ZooKeeper session expired. */
public class SessionExpiredException extends ZkhaException {
    private static final long serialVersionUID = 1L;

    /** Creates the exception with the core's message. */
    public SessionExpiredException(String message) {
        super(message);
    }
}

package io.zkha.jni;

/** Thrown when a znode still has children. */
public class NotEmptyException extends ZkhaException {
    private static final long serialVersionUID = 1L;

    /** Creates the exception with the core's message. */
    public NotEmptyException(String message) {
        super(message);
    }
}

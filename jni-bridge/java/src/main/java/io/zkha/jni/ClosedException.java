package io.zkha.jni;

/** Thrown when the client or object was closed. */
public class ClosedException extends ZkhaException {
    private static final long serialVersionUID = 1L;

    /** Creates the exception with the core's message. */
    public ClosedException(String message) {
        super(message);
    }
}

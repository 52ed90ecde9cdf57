package io.zkha.jni;

/** Thrown when a version check failed. */
public class BadVersionException extends ZkhaException {
    private static final long serialVersionUID = 1L;

    /** Creates the exception with the core's message. */
    public BadVersionException(String message) {
        super(message);
    }
}

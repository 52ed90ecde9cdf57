package io.zkha.jni;

/** Thrown when the operation did not finish in time. */
public class TimeoutException extends ZkhaException {
    private static final long serialVersionUID = 1L;

    /** Creates the exception with the core's message. */
    public TimeoutException(String message) {
        super(message);
    }
}

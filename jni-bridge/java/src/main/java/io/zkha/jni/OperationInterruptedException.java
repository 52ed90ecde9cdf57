package io.zkha.jni;

/** Thrown when an operation was interrupted (cancelled by the caller). */
public class OperationInterruptedException extends ZkhaException {
    private static final long serialVersionUID = 1L;

    /** Creates the exception with the core's message. */
    public OperationInterruptedException(String message) {
        super(message);
    }
}

package io.zkha.jni;

/** Thrown when a fenced write was refused: leadership (or the lock) is gone. */
public class NotLeaderException extends ZkhaException {
    private static final long serialVersionUID = 1L;

    /** Creates the exception with the core's message. */
    public NotLeaderException(String message) {
        super(message);
    }
}

package io.zkha.jni;

/** Thrown when a payload exceeds what ZooKeeper accepts. */
public class TooLargeException extends ZkhaException {
    private static final long serialVersionUID = 1L;

    /** Creates the exception with the core's message. */
    public TooLargeException(String message) {
        super(message);
    }
}

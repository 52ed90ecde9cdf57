package io.zkha.jni;

/** Thrown when a znode (or store entry) does not exist. */
public class NoNodeException extends ZkhaException {
    private static final long serialVersionUID = 1L;

    /** Creates the exception with the core's message. */
    public NoNodeException(String message) {
        super(message);
    }
}

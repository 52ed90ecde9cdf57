package io.zkha.jni;

/** Thrown when a znode (or store entry) already exists. */
public class NodeExistsException extends ZkhaException {
    private static final long serialVersionUID = 1L;

    /** Creates the exception with the core's message. */
    public NodeExistsException(String message) {
        super(message);
    }
}

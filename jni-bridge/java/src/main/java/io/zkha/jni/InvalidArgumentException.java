package io.zkha.jni;

/** Thrown when an argument (path, id, value) is malformed. */
public class InvalidArgumentException extends ZkhaException {
    private static final long serialVersionUID = 1L;

    /** Creates the exception with the core's message. */
    public InvalidArgumentException(String message) {
        super(message);
    }
}

package io.zkha.jni;

/** Thrown when stored bytes could not be decoded (a znode that is not in the format its reader expects). */
public class CorruptException extends ZkhaException {
    private static final long serialVersionUID = 1L;

    /** Creates the exception with the core's message. */
    public CorruptException(String message) {
        super(message);
    }
}

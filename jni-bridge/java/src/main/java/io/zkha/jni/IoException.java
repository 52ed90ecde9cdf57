package io.zkha.jni;

/** Thrown for an I/O error outside ZooKeeper (reading a configuration or key file). */
public class IoException extends ZkhaException {
    private static final long serialVersionUID = 1L;

    /** Creates the exception with the core's message. */
    public IoException(String message) {
        super(message);
    }
}

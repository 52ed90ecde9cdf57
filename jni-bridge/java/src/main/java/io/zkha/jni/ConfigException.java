package io.zkha.jni;

/** Thrown when a configuration key is missing or has a bad value. */
public class ConfigException extends ZkhaException {
    private static final long serialVersionUID = 1L;

    /** Creates the exception with the core's message. */
    public ConfigException(String message) {
        super(message);
    }
}

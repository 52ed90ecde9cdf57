package io.zkha.jni;

/**
 * Base of every exception the zkha core raises through JNI. The message is the core's message,
 * naming the offending input (path, key, size). Subclasses tell the kind of failure.
 */
public class ZkhaException extends RuntimeException {
    private static final long serialVersionUID = 1L;

    /** Creates the exception with the core's message. */
    public ZkhaException(String message) {
        super(message);
    }

    /** True for failures whose outcome is unknown (retrying an idempotent call may succeed). */
    public boolean isRetryable() {
        return this instanceof ConnectionLossException || this instanceof TimeoutException;
    }
}

package io.zkha.jni;

/**
 * Base of every exception the zkha core raises through JNI. The message is the core's message,
 * naming the offending input (path, key, size). Subclasses tell the kind of failure.
 */
public class ZkhaException extends RuntimeException {
    private static final long serialVersionUID = 1L;

    /** Set by the native side: a write that failed this way may have been applied. */
    private boolean outcomeUnknown;

    /** Creates the exception with the core's message. */
    public ZkhaException(String message) {
        super(message);
    }

    /**
     * True if a write that failed with this exception may have been applied all the same (a
     * connection loss, a timeout, a session that ended with the request in flight, ...); false
     * only when the core knows that nothing was written. The core decides (its
     * {@code ErrorKind::outcome_unknown}); this is the line Flink's
     * {@code ZooKeeperStateHandleStore} draws before it deletes a state file.
     */
    public boolean isOutcomeUnknown() {
        return outcomeUnknown;
    }

    /** True for failures whose outcome is unknown (retrying an idempotent call may succeed). */
    public boolean isRetryable() {
        return this instanceof ConnectionLossException || this instanceof TimeoutException;
    }
}

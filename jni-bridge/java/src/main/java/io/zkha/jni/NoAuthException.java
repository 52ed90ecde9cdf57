package io.zkha.jni;

/**
 * Thrown when ZooKeeper refuses an operation for the client's identity: the znode's ACL does
 * not grant it (a creator ACL of another identity, say), or authentication failed.
 */
public class NoAuthException extends ZkhaException {
    private static final long serialVersionUID = 1L;

    /** Creates the exception with the core's message. */
    public NoAuthException(String message) {
        super(message);
    }
}

package io.zkha.jni;

/**
 * The natives of {@code libzkha_jni}. Every {@code long} is a handle from the native handle
 * table; a closed handle raises {@link ClosedException}. Errors raise the {@link ZkhaException}
 * subclass of their kind. Calls block the calling thread (the work runs on zkha's own runtime);
 * the {@code *Next} calls wait up to the given milliseconds and return {@code null} on timeout.
 */
public final class Native {
    static {
        NativeLibrary.load();
    }

    private Native() {}

    /** Makes sure the library is loaded. */
    public static void init() {}

    // the contract
    /** Core's error kinds, one "code name" line each (core's {@code ErrorKind::ALL}). */
    public static native String errorKinds();
    /**
     * Throws the exception of error kind {@code code} (a code from {@link #errorKinds()}) with
     * {@code message}, as a failing native call would: how tests check that every kind has a
     * class of its own. An unknown code throws {@link InvalidArgumentException}.
     */
    public static native void throwErrorKind(int code, String message);

    // client
    public static native long clientFromFlinkConfig(String pairs);
    public static native long clientConnect(String connect, long sessionTimeoutMs, boolean strict);
    public static native String flinkClusterRoot(String pairs);
    /**
     * Publishes the configuration version this process started with (its configuration was
     * pulled by {@code zkha flink config pull}): the version, or -1 if it was not pulled.
     */
    public static native long configPublishStarted(long client, String pairs);
    /**
     * Replaces a TLS client's certificates from the next connection on: {@code keyStorePem}
     * (the key, PKCS#8, and its certificate chain) and/or {@code trustStorePem} (CA
     * certificates); null keeps that part. Unusable PEM changes nothing and throws.
     */
    public static native void clientReplaceTls(long client, String keyStorePem, String trustStorePem);
    public static native long clientSessionId(long client);
    /** The client's connection state, then one {@code name=value} line per metric (core's flat metrics). */
    public static native String clientMetrics(long client);
    /** Every live client's metrics in this process as OpenMetrics text. */
    public static native String clientMetricsText();
    public static native void clientClose(long client);
    public static native byte[] getData(long client, String path);
    public static native byte[] getChildren(long client, String path);
    public static native void deleteRecursive(long client, String path);
    /** Deletes one znode; a missing one counts as deleted, one with children throws {@link NotEmptyException}. */
    public static native void delete(long client, String path);
    public static native void put(long client, String path, byte[] data);

    // election
    public static native long electionJoin(long client, String latchPath, String participantId);
    public static native byte[] electionNext(long election, long timeoutMs);
    public static native boolean electionHasLeadership(long election);
    public static native long electionFencingToken(long election);
    public static native void electionPublish(long election, String path, byte[] data);
    public static native void electionDelete(long election, String path);
    public static native void electionClose(long election);

    // fencing slot: stores fenced by whatever election is bound later
    public static native long slotNew();
    public static native void slotBind(long slot, long election);

    // watches
    public static native long leaderWatchStart(long client, String path);
    public static native byte[] leaderWatchNext(long watch, long timeoutMs);
    public static native long configWatchStart(long client, String root);
    public static native byte[] configWatchNext(long watch, long timeoutMs);

    /** Releases a handle (watches, stores, counters, slots, watchdogs). */
    public static native void free(long handle);

    // pointer store (Flink StateHandleStore semantics)
    public static native long storeNew(long client, String root, long slot);
    public static native int storeAddAndLock(long store, String name, byte[] data);
    public static native int storeReplace(long store, String name, int version, byte[] data);
    public static native int storeExists(long store, String name);
    public static native byte[] storeGetAndLock(long store, String name);
    public static native byte[] storeGetAllAndLock(long store);
    public static native byte[] storeGetAllHandles(long store);
    public static native byte[] storeReleaseAndMark(long store, String name);
    public static native void storeRemoveMarked(long store, String name);
    public static native void storeRelease(long store, String name);
    public static native void storeReleaseAll(long store);
    public static native void storeClearEntries(long store);
    public static native String storeOwner(long store);

    // counter (4-byte format of Flink's checkpoint_id_counter)
    public static native long counterNew(long client, String path, long initial, long slot);
    public static native long counterGet(long counter);
    public static native long counterGetAndIncrement(long counter);
    public static native void counterSet(long counter, long value);
    public static native void counterRemove(long counter);

    // watchdog
    public static native long watchdogArm(long client, long timeoutMs);
    public static native boolean watchdogPing(long watchdog);
}

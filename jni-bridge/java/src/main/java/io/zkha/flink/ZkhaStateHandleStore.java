package io.zkha.flink;

import java.io.IOException;
import java.io.Serializable;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;

import io.zkha.jni.Codec;
import io.zkha.jni.Native;
import io.zkha.jni.NoNodeException;
import io.zkha.jni.NodeExistsException;
import io.zkha.jni.ZkhaException;
import org.apache.flink.api.java.tuple.Tuple2;
import org.apache.flink.runtime.persistence.IntegerResourceVersion;
import org.apache.flink.runtime.persistence.PossibleInconsistentStateException;
import org.apache.flink.runtime.persistence.RetrievableStateStorageHelper;
import org.apache.flink.runtime.persistence.StateHandleStore;
import org.apache.flink.runtime.state.RetrievableStateHandle;
import org.apache.flink.util.InstantiationUtil;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Flink's {@code StateHandleStore} on the zkha pointer store, with the layout and bytes of
 * Flink's {@code ZooKeeperStateHandleStore}: {@code <root>/<name>} holds the Java-serialized
 * {@code RetrievableStateHandle}, {@code <name>/locks/<owner>} are the ephemeral locks, an entry
 * without {@code locks} is marked for deletion. Unlike Flink's, every write is fenced on this
 * JobManager's latch node: a stale leader's add, replace or remove fails atomically.
 */
final class ZkhaStateHandleStore<T extends Serializable> implements StateHandleStore<T, IntegerResourceVersion> {
    private static final Logger LOG = LoggerFactory.getLogger(ZkhaStateHandleStore.class);

    private final ZkhaClient client;
    private final long store;
    private final RetrievableStateStorageHelper<T> storage;

    ZkhaStateHandleStore(ZkhaClient client, String root, RetrievableStateStorageHelper<T> storage) {
        this.client = client;
        this.store = client.own(Native.storeNew(client.id, root, client.slot));
        this.storage = storage;
    }

    /**
     * Frees the native store (Flink's {@code StateHandleStore} has no close: the owner of a
     * short-lived store calls this when done; the others go with their client). Later calls
     * fail with {@link io.zkha.jni.ClosedException}.
     */
    void close() {
        client.free(store);
    }

    /** Flink names entries "/name"; zkha takes the child name. */
    private static String name(String name) {
        return name.startsWith("/") ? name.substring(1) : name;
    }

    /**
     * True unless the core knows the failed write changed nothing: only then may the state file
     * it points at be deleted (a pointer to a deleted file makes the job unrecoverable). Flink's
     * ZooKeeperStateHandleStore keeps the file for every error outside a short known-safe list
     * the same way.
     */
    static boolean possiblyInconsistent(Exception e) {
        return !(e instanceof ZkhaException) || ((ZkhaException) e).isOutcomeUnknown();
    }

    @Override
    public RetrievableStateHandle<T> addAndLock(String pathName, T state) throws Exception {
        String name = name(pathName);
        RetrievableStateHandle<T> handle = storage.store(state);
        byte[] bytes = InstantiationUtil.serializeObject(handle);
        try {
            Native.storeAddAndLock(store, name, bytes);
            return handle;
        } catch (NodeExistsException e) {
            discard(handle);
            throw new AlreadyExistException("zkha state handle store entry " + name + " already exists", e);
        } catch (ZkhaException e) {
            if (possiblyInconsistent(e)) {
                throw new PossibleInconsistentStateException(e);
            }
            discard(handle);
            throw e;
        }
    }

    @Override
    public void replace(String pathName, IntegerResourceVersion version, T state) throws Exception {
        String name = name(pathName);
        RetrievableStateHandle<T> old = null;
        try {
            old = deserialize(Native.storeGetAndLock(store, name));
        } catch (NoNodeException e) {
            throw new NotExistException("zkha state handle store entry " + name + " does not exist", e);
        }
        RetrievableStateHandle<T> fresh = storage.store(state);
        try {
            Native.storeReplace(store, name, version.getValue(), InstantiationUtil.serializeObject(fresh));
        } catch (ZkhaException e) {
            if (possiblyInconsistent(e)) {
                throw new PossibleInconsistentStateException(e);
            }
            discard(fresh);
            if (e instanceof NoNodeException) {
                throw new NotExistException("zkha state handle store entry " + name + " does not exist", e);
            }
            throw e;
        }
        discard(old);
    }

    @Override
    public IntegerResourceVersion exists(String pathName) {
        int v = Native.storeExists(store, name(pathName));
        return v < 0 ? IntegerResourceVersion.notExisting() : IntegerResourceVersion.valueOf(v);
    }

    @Override
    public RetrievableStateHandle<T> getAndLock(String pathName) throws Exception {
        String name = name(pathName);
        byte[] bytes;
        try {
            bytes = Native.storeGetAndLock(store, name);
        } catch (NoNodeException e) {
            throw new NotExistException("zkha state handle store entry " + name + " does not exist", e);
        }
        try {
            return deserialize(bytes);
        } catch (IOException | ClassNotFoundException e) {
            Native.storeRelease(store, name);
            throw new IOException("failed to read the state handle of " + name, e);
        }
    }

    @Override
    public List<Tuple2<RetrievableStateHandle<T>, String>> getAllAndLock() {
        List<Tuple2<RetrievableStateHandle<T>, String>> out = new ArrayList<>();
        for (Codec.Entry e : Codec.entries(Native.storeGetAllAndLock(store))) {
            try {
                out.add(Tuple2.of(deserialize(e.data()), "/" + e.name()));
            } catch (IOException | ClassNotFoundException ex) {
                // As Flink's ZooKeeperStateHandleStore: skip it, without keeping its lock.
                LOG.warn("zkha: skipping unreadable state handle {}: {}", e.name(), ex.toString());
                Native.storeRelease(store, e.name());
            }
        }
        return out;
    }

    @Override
    public Collection<String> getAllHandles() {
        return Codec.strings(Native.storeGetAllHandles(store));
    }

    @Override
    public boolean releaseAndTryRemove(String pathName) throws Exception {
        String name = name(pathName);
        byte[] marked = Native.storeReleaseAndMark(store, name);
        if (marked == null) {
            return false;
        }
        if (marked.length > 0) {
            try {
                discard(deserialize(marked));
            } catch (IOException | ClassNotFoundException e) {
                LOG.warn("zkha: could not read the state handle of {} to discard it: {}", name, e.toString());
            }
        }
        Native.storeRemoveMarked(store, name);
        return true;
    }

    @Override
    public void clearEntries() {
        Native.storeClearEntries(store);
    }

    @Override
    public void release(String pathName) {
        Native.storeRelease(store, name(pathName));
    }

    @Override
    public void releaseAll() {
        Native.storeReleaseAll(store);
    }

    @SuppressWarnings("unchecked")
    private static <T extends Serializable> RetrievableStateHandle<T> deserialize(byte[] bytes)
            throws IOException, ClassNotFoundException {
        return (RetrievableStateHandle<T>) InstantiationUtil.deserializeObject(bytes, Thread.currentThread().getContextClassLoader());
    }

    private static void discard(RetrievableStateHandle<?> handle) {
        try {
            handle.discardState();
        } catch (Exception e) {
            LOG.warn("zkha: could not discard state handle {}", handle, e);
        }
    }

    @Override
    public String toString() {
        return "ZkhaStateHandleStore{owner=" + Native.storeOwner(store) + "}";
    }
}

package io.zkha.flink;

import java.util.Set;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;

import org.apache.flink.runtime.persistence.RetrievableStateStorageHelper;
import org.apache.flink.runtime.state.RetrievableStateHandle;

/** A state handle holding a long in itself; discards are recorded by id (copies share it). */
final class TestHandle implements RetrievableStateHandle<Long> {
    private static final long serialVersionUID = 1L;
    static final Set<String> DISCARDED = ConcurrentHashMap.newKeySet();

    final long value;
    final String id = UUID.randomUUID().toString();

    TestHandle(long value) {
        this.value = value;
    }

    @Override
    public Long retrieveState() {
        return value;
    }

    @Override
    public void discardState() {
        DISCARDED.add(id);
    }

    boolean discarded() {
        return DISCARDED.contains(id);
    }

    @Override
    public long getStateSize() {
        return 8;
    }

    /** A storage helper that makes TestHandles. */
    static final class Helper implements RetrievableStateStorageHelper<Long> {
        /** The handle made last. */
        volatile TestHandle last;

        @Override
        public RetrievableStateHandle<Long> store(Long state) {
            last = new TestHandle(state);
            return last;
        }
    }
}

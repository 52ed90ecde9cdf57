package io.zkha.flink;

import java.nio.file.Path;

import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.io.TempDir;

/** A test against the real ZooKeeper server this JVM's tests share, with a storage folder per test. */
abstract class RealZooKeeperTest {
    static TestEnsemble zk;

    /** Flink's {@code high-availability.storageDir} for {@link TestEnsemble#flinkConfig}. */
    @TempDir
    Path storage;

    @BeforeAll
    static void zooKeeper() throws Exception {
        zk = TestEnsemble.shared();
    }
}

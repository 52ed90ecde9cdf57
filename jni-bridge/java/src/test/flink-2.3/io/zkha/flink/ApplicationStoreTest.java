package io.zkha.flink;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Collection;
import java.util.List;

import org.apache.flink.api.common.ApplicationID;
import org.apache.flink.api.common.JobInfo;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.runtime.application.AbstractApplication;
import org.apache.flink.runtime.blob.PermanentBlobService;
import org.apache.flink.runtime.highavailability.FileSystemApplicationResultStore;
import org.apache.flink.runtime.highavailability.zookeeper.CuratorFrameworkWithUnhandledErrorListener;
import org.apache.flink.runtime.jobmanager.ApplicationStore;
import org.apache.flink.runtime.jobmanager.ApplicationStoreEntry;
import org.apache.flink.runtime.util.ZooKeeperUtils;
import org.junit.jupiter.api.Test;

/** Flink 2.3's application stores (this folder is compiled in the flink-2.3 profile only). */
class ApplicationStoreTest extends RealZooKeeperTest {
    /** An application store entry that only carries its id and name. */
    static final class Entry implements ApplicationStoreEntry {
        private static final long serialVersionUID = 1L;
        private final ApplicationID id;
        private final String name;

        Entry(ApplicationID id, String name) {
            this.id = id;
            this.name = name;
        }

        @Override
        public AbstractApplication getApplication(
                PermanentBlobService blobService, Collection<JobInfo> recovered, Collection<JobInfo> recoveredTerminal) {
            throw new UnsupportedOperationException();
        }

        @Override
        public ApplicationID getApplicationId() {
            return id;
        }

        @Override
        public String getName() {
            return name;
        }
    }

    @Test
    void zkhaAndBuiltInReadEachOthersApplications() throws Exception {
        Configuration conf = zk.flinkConfig(storage);
        try (TestServices zkha = TestServices.leading(conf);
                CuratorFrameworkWithUnhandledErrorListener flink = ZooKeeperUtils.startCuratorFramework(conf, e -> {})) {
            assertInstanceOf(FileSystemApplicationResultStore.class, zkha.services.getApplicationResultStore());
            ApplicationStore ours = zkha.services.getApplicationStore();
            ours.start();
            ApplicationStore theirs = ZooKeeperUtils.createApplicationStore(flink.asCuratorFramework(), conf);
            theirs.start();

            ApplicationID a = new ApplicationID();
            ours.putApplication(new Entry(a, "app a"));
            assertEquals("app a", theirs.recoverApplication(a).get().getName(), "Flink reads zkha's application");
            ApplicationID b = new ApplicationID();
            theirs.putApplication(new Entry(b, "app b"));
            assertEquals("app b", ours.recoverApplication(b).get().getName(), "zkha reads Flink's application");
            assertTrue(ours.getApplicationIds().containsAll(List.of(a, b)));
            theirs.stop();
            ours.stop();
        }
    }
}

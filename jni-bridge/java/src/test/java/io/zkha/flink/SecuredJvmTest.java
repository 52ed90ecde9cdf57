package io.zkha.flink;

import java.util.ArrayList;
import java.util.List;
import java.util.Properties;

import org.apache.flink.configuration.Configuration;
import org.apache.flink.runtime.security.SecurityConfiguration;
import org.apache.flink.runtime.security.SecurityUtils;
import org.apache.flink.runtime.security.modules.SecurityModule;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;

/**
 * Tests that set this JVM's security state as an operator and a Flink entrypoint do (system
 * properties, Flink's security modules): each test's changes are undone after it.
 */
abstract class SecuredJvmTest {
    private Properties saved;
    private List<SecurityModule> installed = new ArrayList<>();

    @BeforeEach
    void saveSystemProperties() {
        saved = (Properties) System.getProperties().clone();
        javax.security.auth.login.Configuration.setConfiguration(null);
    }

    @AfterEach
    void restoreSystemProperties() throws Exception {
        for (SecurityModule m : installed) {
            m.uninstall();
        }
        installed = new ArrayList<>();
        System.setProperties(saved);
        javax.security.auth.login.Configuration.setConfiguration(null);
    }

    /** This JVM's system properties as they were before the test. */
    Properties savedSystemProperties() {
        return saved;
    }

    /** Flink's security modules (JAAS, ZooKeeper), as the entrypoint installs them. */
    void installSecurity(Configuration conf) throws Exception {
        SecurityUtils.install(new SecurityConfiguration(conf));
        installed = new ArrayList<>(SecurityUtils.getInstalledModules());
    }
}

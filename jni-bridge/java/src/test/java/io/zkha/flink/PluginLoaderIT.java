package io.zkha.flink;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNotSame;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.lang.reflect.Method;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.UUID;
import java.util.stream.Collectors;

import io.zkha.flink.loader.ZkhaPluginHaServicesFactory;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.runtime.highavailability.ClientHighAvailabilityServices;
import org.apache.flink.runtime.highavailability.HighAvailabilityServices;
import org.apache.flink.runtime.leaderelection.LeaderElection;
import org.junit.jupiter.api.Test;

/**
 * The {@code plugins/zkha/} install on this Flink: the lib/ loader runs the plugin jar in
 * Flink's plugin class loader, child-first for everything but Flink's and the logging classes,
 * and the plugin loads the classes of this Flink's generation only.
 */
class PluginLoaderIT extends RealZooKeeperTest {
    static Class<?> findLoadedClass(ClassLoader loader, String name) throws ReflectiveOperationException {
        Method find = ClassLoader.class.getDeclaredMethod("findLoadedClass", String.class);
        find.setAccessible(true);
        return (Class<?>) find.invoke(loader, name);
    }

    @Test
    void theLoaderRunsThePluginChildFirst() throws Exception {
        Path plugins = Files.createDirectories(storage.resolve("plugins/zkha"));
        Files.copy(PluginJarIT.pluginJar(), plugins.resolve(PluginJarIT.pluginJar().getFileName()));
        Configuration conf = zk.flinkConfig(storage.resolve("ha"));
        conf.setString("high-availability.zkha.plugin-dir", plugins.toString());

        ZkhaPluginHaServicesFactory factory = new ZkhaPluginHaServicesFactory();
        HighAvailabilityServices services = factory.createHAServices(conf, Runnable::run);
        ClassLoader plugin = services.getClass().getClassLoader();
        assertNotSame(PluginLoaderIT.class.getClassLoader(), plugin);
        assertEquals(FlinkGenerationTest.expected().servicesClass, services.getClass().getName());

        // Child-first: zkha's classes come from the plugin jar although lib/ (here: the test
        // class path) has them too; Flink's and the logging classes from Flink.
        assertSame(plugin, Class.forName("io.zkha.jni.Native", false, plugin).getClassLoader());
        assertSame(plugin, Class.forName(ZkhaHaServicesFactory.class.getName(), false, plugin).getClassLoader());
        assertSame(Configuration.class, Class.forName(Configuration.class.getName(), false, plugin));
        assertSame(org.slf4j.Logger.class, Class.forName("org.slf4j.Logger", false, plugin));
        // Nothing else leaks in from the application class path.
        assertThrows(ClassNotFoundException.class, () -> Class.forName("org.junit.jupiter.api.Test", false, plugin));

        // It works: leadership through the plugin's services, and a client's services.
        LeaderElection election = services.getDispatcherLeaderElection();
        ZkhaHaTest.Contender contender = new ZkhaHaTest.Contender();
        election.startLeaderElection(contender);
        assertInstanceOf(UUID.class, contender.next());
        ClientHighAvailabilityServices client = factory.createClientHAServices(conf);
        assertSame(plugin, client.getClass().getClassLoader());
        client.close();

        // Only this generation's classes were loaded.
        assertNotNull(findLoadedClass(plugin, FlinkGenerationTest.expected().servicesClass));
        List<String> foreign = PluginJarIT.classes(PluginJarIT.pluginJar()).keySet().stream()
                .filter(c -> !PluginJarIT.generations(c).contains(FlinkGenerationTest.expected()))
                .collect(Collectors.toList());
        assertEquals(false, foreign.isEmpty());
        for (String c : foreign) {
            assertEquals(null, findLoadedClass(plugin, c), c + " is for another Flink");
        }
        election.close();
        services.close();
    }
}

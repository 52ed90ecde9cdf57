package io.zkha.flink;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Method;
import java.net.URL;
import java.net.URLClassLoader;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Executor;
import java.util.stream.Stream;

import org.junit.jupiter.api.Test;

/**
 * The plugin jar on a Flink it does not support (1.19, from Maven Central): start-up fails at
 * once, naming the Flink version found and the versions supported, before zkha connects or
 * loads any of its per-generation classes.
 */
class UnsupportedFlinkIT {
    @Test
    void anUnsupportedFlinkFailsStartUpNamingItsVersion() throws Exception {
        String version = System.getProperty("flink.unsupported.version");
        List<URL> urls = new ArrayList<>();
        try (Stream<Path> jars = Files.list(Paths.get(System.getProperty("flink.unsupported.dir")))) {
            for (Path jar : (Iterable<Path>) jars::iterator) {
                urls.add(jar.toUri().toURL());
            }
        }
        assertTrue(urls.size() >= 3, urls.toString());
        urls.add(PluginJarIT.pluginJar().toUri().toURL());
        try (URLClassLoader old = new URLClassLoader(urls.toArray(new URL[0]), ClassLoader.getPlatformClassLoader())) {
            Class<?> confClass = Class.forName("org.apache.flink.configuration.Configuration", true, old);
            Object conf = confClass.getConstructor().newInstance();
            Class<?> factoryClass = Class.forName(ZkhaHaServicesFactory.class.getName(), true, old);
            Object factory = factoryClass.getConstructor().newInstance();
            Method services = factoryClass.getMethod("createHAServices", confClass, Executor.class);
            Method client = factoryClass.getMethod("createClientHAServices", confClass);
            for (Throwable e : List.of(
                    assertThrows(InvocationTargetException.class, () -> services.invoke(factory, conf, (Executor) Runnable::run)),
                    assertThrows(InvocationTargetException.class, () -> client.invoke(factory, conf)))) {
                Throwable cause = e.getCause();
                assertEquals("org.apache.flink.configuration.IllegalConfigurationException", cause.getClass().getName(),
                        String.valueOf(cause));
                assertTrue(cause.getMessage().contains("this is Flink " + version), cause.getMessage());
                assertTrue(cause.getMessage().contains("Flink 1.20, 2.0, 2.1, 2.2 and 2.3"), cause.getMessage());
            }
            for (FlinkGeneration g : FlinkGeneration.values()) {
                assertNull(PluginLoaderIT.findLoadedClass(old, g.servicesClass));
            }
        }
    }
}

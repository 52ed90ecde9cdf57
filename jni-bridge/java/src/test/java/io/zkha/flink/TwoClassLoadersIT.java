package io.zkha.flink;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Method;
import java.net.URL;
import java.net.URLClassLoader;

import org.junit.jupiter.api.Test;

/**
 * The plugin jar loaded twice in one JVM, in two isolated class loaders (as two Flink plugin
 * directories would): each gets its own copy of the native library (from the jar), both work,
 * and errors surface as each loader's own exception classes.
 */
class TwoClassLoadersIT extends RealZooKeeperTest {
    @Test
    void twoIsolatedLoadersBothWork() throws Exception {
        URL classes = PluginJarIT.pluginJar().toUri().toURL();
        try (URLClassLoader a = new URLClassLoader(new URL[] {classes}, ClassLoader.getPlatformClassLoader());
                URLClassLoader b = new URLClassLoader(new URL[] {classes}, ClassLoader.getPlatformClassLoader())) {
            Class<?> na = Class.forName("io.zkha.jni.Native", true, a);
            Class<?> nb = Class.forName("io.zkha.jni.Native", true, b);
            assertNotSame(na, nb);
            for (Class<?> n : new Class<?>[] {na, nb}) {
                Method connect = n.getMethod("clientConnect", String.class, long.class, boolean.class);
                long client = (long) connect.invoke(null, zk.connectString, 4000L, false);
                long session = (long) n.getMethod("clientSessionId", long.class).invoke(null, client);
                assertTrue(session != 0);
                long election = (long) n.getMethod("electionJoin", long.class, String.class, String.class)
                        .invoke(null, client, "/two-loaders/" + n.getClassLoader().hashCode(), "p");
                boolean leads = false;
                for (int i = 0; i < 100 && !leads; i++) {
                    leads = (boolean) n.getMethod("electionHasLeadership", long.class).invoke(null, election);
                    Thread.sleep(20);
                }
                assertTrue(leads, "each loader's contender leads its own latch");
                // An error thrown by the natives is that loader's exception class.
                try {
                    connect.invoke(null, "host:99999", 4000L, false);
                } catch (InvocationTargetException e) {
                    Throwable cause = e.getCause();
                    assertEquals("io.zkha.jni.InvalidArgumentException", cause.getClass().getName());
                    assertEquals(n.getClassLoader(), cause.getClass().getClassLoader());
                    assertTrue(cause.getMessage().contains("host:99999"), cause.getMessage());
                }
                n.getMethod("electionClose", long.class).invoke(null, election);
                n.getMethod("clientClose", long.class).invoke(null, client);
            }
        }
    }
}

import java.lang.reflect.Field;
import java.lang.reflect.Modifier;
import java.net.URL;
import java.net.URLClassLoader;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Enumeration;
import java.util.TreeSet;
import java.util.jar.JarEntry;
import java.util.jar.JarFile;
import java.util.stream.Stream;

/**
 * Prints every configuration key a Flink distribution defines: the keys (and fallback keys)
 * of the static {@code ConfigOption} fields of every class in the jars of a Flink {@code lib/}
 * directory, sorted, one per line. Run as a source file:
 * {@code java scripts/FlinkConfigKeys.java .cache/flink/2.3.0/lib > core/src/flink/keys/2.3.txt}.
 */
public class FlinkConfigKeys {
    public static void main(String[] args) throws Exception {
        Path lib = Path.of(args[0]);
        URL[] urls;
        try (Stream<Path> jars = Files.list(lib)) {
            urls = jars.filter(p -> p.toString().endsWith(".jar")).map(p -> {
                try {
                    return p.toUri().toURL();
                } catch (Exception e) {
                    throw new RuntimeException(e);
                }
            }).toArray(URL[]::new);
        }
        TreeSet<String> keys = new TreeSet<>();
        try (URLClassLoader loader = new URLClassLoader(urls, null)) {
            Class<?> option = loader.loadClass("org.apache.flink.configuration.ConfigOption");
            java.lang.reflect.Method key = option.getMethod("key");
            java.lang.reflect.Method fallbacks = option.getMethod("fallbackKeys");
            Class<?> fallbackKey = loader.loadClass("org.apache.flink.configuration.FallbackKey");
            java.lang.reflect.Method fallbackName = fallbackKey.getMethod("getKey");
            for (URL u : urls) {
                try (JarFile jar = new JarFile(Path.of(u.toURI()).toFile())) {
                    Enumeration<JarEntry> entries = jar.entries();
                    while (entries.hasMoreElements()) {
                        String n = entries.nextElement().getName();
                        if (!n.startsWith("org/apache/flink/") || !n.endsWith(".class") || n.contains("shaded")) {
                            continue;
                        }
                        Class<?> c;
                        try {
                            c = Class.forName(n.substring(0, n.length() - 6).replace('/', '.'), false, loader);
                            for (Field f : c.getDeclaredFields()) {
                                if (!Modifier.isStatic(f.getModifiers()) || !option.isAssignableFrom(f.getType())) {
                                    continue;
                                }
                                f.setAccessible(true);
                                Object o = f.get(null);
                                if (o == null) {
                                    continue;
                                }
                                keys.add((String) key.invoke(o));
                                for (Object fb : (Iterable<?>) fallbacks.invoke(o)) {
                                    keys.add((String) fallbackName.invoke(fb));
                                }
                            }
                        } catch (Throwable t) {
                            // A class that cannot be loaded or initialized here defines no key we can read.
                        }
                    }
                }
            }
        }
        keys.forEach(System.out::println);
    }
}

package io.zkha.flink;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayInputStream;
import java.io.DataInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.lang.reflect.Constructor;
import java.lang.reflect.Field;
import java.lang.reflect.Method;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Deque;
import java.util.EnumSet;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.jar.JarEntry;
import java.util.jar.JarFile;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Collectors;

import org.junit.jupiter.api.Test;

/**
 * The two jars as shipped: Java 8 class files only, the right contents, and every reference the
 * classes meant for this Flink make to Flink's classes (and to zkha's, through them) resolves
 * against this Flink's flink-runtime: what the JVM would otherwise find out only when the line
 * runs.
 */
class PluginJarIT {
    /** Java 8's class file version. */
    static final int JAVA_8 = 52;

    static Path pluginJar() {
        return Paths.get(System.getProperty("zkha.plugin.jar"));
    }

    static Path loaderJar() {
        return Paths.get(System.getProperty("zkha.loader.jar"));
    }

    /** The generations a class of the jar is for (the per-generation classes by name). */
    static Set<FlinkGeneration> generations(String className) {
        switch (className.replaceFirst("\\$.*", "")) {
            case "io.zkha.flink.HaServicesFlink120":
                return EnumSet.of(FlinkGeneration.FLINK_1_20);
            case "io.zkha.flink.HaServicesFlink20":
                return EnumSet.of(FlinkGeneration.FLINK_2_0);
            case "io.zkha.flink.Flink2Support":
                return EnumSet.of(FlinkGeneration.FLINK_2_0, FlinkGeneration.FLINK_2_3);
            case "io.zkha.flink.HaServicesFlink23":
                return EnumSet.of(FlinkGeneration.FLINK_2_3);
            default:
                return EnumSet.allOf(FlinkGeneration.class);
        }
    }

    /** The class files of a jar, by class name. */
    static Map<String, byte[]> classes(Path jar) throws IOException {
        Map<String, byte[]> out = new LinkedHashMap<>();
        try (JarFile j = new JarFile(jar.toFile())) {
            for (JarEntry e : java.util.Collections.list(j.entries())) {
                if (e.getName().endsWith(".class")) {
                    try (InputStream in = j.getInputStream(e)) {
                        out.put(e.getName().replace('/', '.').replaceAll("\\.class$", ""), in.readAllBytes());
                    }
                }
            }
        }
        return out;
    }

    static List<String> entries(Path jar) throws IOException {
        try (JarFile j = new JarFile(jar.toFile())) {
            return j.stream().map(JarEntry::getName).collect(Collectors.toList());
        }
    }

    @Test
    void everyClassIsAJava8ClassFile() throws IOException {
        for (Path jar : List.of(pluginJar(), loaderJar())) {
            Map<String, byte[]> classes = classes(jar);
            assertTrue(classes.size() > 0, jar + " has no classes");
            List<String> newer = new ArrayList<>();
            for (Map.Entry<String, byte[]> c : classes.entrySet()) {
                DataInputStream in = new DataInputStream(new ByteArrayInputStream(c.getValue()));
                assertEquals(0xCAFEBABE, in.readInt(), c.getKey());
                in.readUnsignedShort();
                int major = in.readUnsignedShort();
                if (major != JAVA_8) {
                    newer.add(c.getKey() + " (class file version " + major + ")");
                }
            }
            assertEquals(List.of(), newer, jar + ": not Java 8 class files");
        }
    }

    @Test
    void theJarsHoldWhatTheyShould() throws IOException {
        List<String> plugin = entries(pluginJar());
        assertTrue(plugin.contains("native/linux-x86_64/libzkha_jni.so"), "the natives");
        for (FlinkGeneration g : FlinkGeneration.values()) {
            assertTrue(plugin.contains(g.servicesClass.replace('.', '/') + ".class"), g.servicesClass);
            assertEquals(EnumSet.of(g), generations(g.servicesClass));
        }
        assertTrue(plugin.contains("io/zkha/flink/loader/ZkhaPluginHaServicesFactory.class"));
        List<String> foreign = plugin.stream()
                .filter(e -> !e.startsWith("io/zkha/") && !e.startsWith("native/") && !e.startsWith("META-INF/MANIFEST.MF"))
                .filter(e -> !e.endsWith("/"))
                .collect(Collectors.toList());
        assertEquals(List.of(), foreign, "nothing but zkha's classes and natives (no Flink classes)");
        // Every class with a Flink version in its name is one the mapping above knows.
        List<String> unmapped = classes(pluginJar()).keySet().stream()
                .filter(c -> c.matches(".*Flink[0-9].*") && generations(c).size() == FlinkGeneration.values().length)
                .collect(Collectors.toList());
        assertEquals(List.of(), unmapped, "per-generation classes that generations() does not know");

        List<String> loader = entries(loaderJar()).stream()
                .filter(e -> e.endsWith(".class")).collect(Collectors.toList());
        assertEquals(List.of("io/zkha/flink/loader/ZkhaPluginHaServicesFactory.class"), loader);
    }

    @Test
    void everyReferenceToFlinkResolvesOnThisFlink() throws IOException {
        FlinkGeneration here = FlinkGeneration.current();
        ClassLoader flink = PluginJarIT.class.getClassLoader();
        Set<String> problems = new TreeSet<>();
        int checked = 0;
        for (Map.Entry<String, byte[]> c : classes(pluginJar()).entrySet()) {
            if (generations(c.getKey()).contains(here)) {
                for (String p : unresolved(c.getValue(), flink)) {
                    problems.add(c.getKey() + ": " + p);
                }
                checked++;
            }
        }
        assertTrue(checked > 20, checked + " classes");
        assertEquals(Set.of(), problems, "references this Flink (" + FlinkGenerationTest.flinkVersion() + ") cannot resolve");
    }

    private static final Pattern FLINK_TYPE = Pattern.compile("L(org/apache/flink/[^;<]+)[;<]");

    /**
     * What of a class file's constant pool does not resolve with {@code loader}: Flink classes
     * it names (also in descriptors and generic signatures), and fields, methods and
     * constructors it uses of Flink's and zkha's classes.
     */
    static List<String> unresolved(byte[] classFile, ClassLoader loader) throws IOException {
        DataInputStream in = new DataInputStream(new ByteArrayInputStream(classFile));
        in.readInt();
        in.readUnsignedShort();
        in.readUnsignedShort();
        int n = in.readUnsignedShort();
        String[] utf8 = new String[n];
        int[] tags = new int[n];
        int[][] refs = new int[n][];
        for (int i = 1; i < n; i++) {
            int tag = in.readUnsignedByte();
            tags[i] = tag;
            switch (tag) {
                case 1:
                    utf8[i] = in.readUTF();
                    break;
                case 3:
                case 4:
                    in.readInt();
                    break;
                case 5:
                case 6:
                    in.readLong();
                    i++;
                    break;
                case 7:
                case 8:
                case 16:
                case 19:
                case 20:
                    refs[i] = new int[] {in.readUnsignedShort()};
                    break;
                case 15:
                    in.readUnsignedByte();
                    refs[i] = new int[] {in.readUnsignedShort()};
                    break;
                case 9:
                case 10:
                case 11:
                case 12:
                case 17:
                case 18:
                    refs[i] = new int[] {in.readUnsignedShort(), in.readUnsignedShort()};
                    break;
                default:
                    throw new IOException("unknown constant pool tag " + tag);
            }
        }
        List<String> problems = new ArrayList<>();
        Set<String> types = new TreeSet<>();
        for (int i = 1; i < n; i++) {
            if (tags[i] == 7 && utf8[refs[i][0]].startsWith("org/apache/flink/")) {
                types.add(utf8[refs[i][0]]);
            }
            if (tags[i] == 1) {
                Matcher m = FLINK_TYPE.matcher(utf8[i]);
                while (m.find()) {
                    types.add(m.group(1));
                }
            }
        }
        for (String t : types) {
            if (load(t, loader) == null) {
                problems.add("no class " + t.replace('/', '.'));
            }
        }
        for (int i = 1; i < n; i++) {
            if (tags[i] != 9 && tags[i] != 10 && tags[i] != 11) {
                continue;
            }
            String owner = utf8[refs[refs[i][0]][0]];
            if (!owner.startsWith("org/apache/flink/") && !owner.startsWith("io/zkha/")) {
                continue;
            }
            int[] nat = refs[refs[i][1]];
            String name = utf8[nat[0]];
            String desc = utf8[nat[1]];
            Class<?> c = load(owner, loader);
            if (c == null) {
                continue; // reported above (or a zkha class of another generation: not referenced)
            }
            try {
                if (!(tags[i] == 9 ? hasField(c, name, desc) : hasMethod(c, name, desc))) {
                    problems.add("no " + (tags[i] == 9 ? "field " : "method ") + c.getName() + "." + name + desc);
                }
            } catch (LinkageError e) {
                problems.add("cannot reflect on " + c.getName() + ": " + e);
            }
        }
        return problems;
    }

    private static Class<?> load(String internalName, ClassLoader loader) {
        try {
            return Class.forName(internalName.replace('/', '.'), false, loader);
        } catch (ClassNotFoundException | LinkageError e) {
            return null;
        }
    }

    private static List<Class<?>> hierarchy(Class<?> c) {
        List<Class<?>> out = new ArrayList<>();
        Deque<Class<?>> todo = new ArrayDeque<>(List.of(c));
        Set<Class<?>> seen = new HashSet<>();
        while (!todo.isEmpty()) {
            Class<?> k = todo.pop();
            if (!seen.add(k)) {
                continue;
            }
            out.add(k);
            if (k.getSuperclass() != null) {
                todo.add(k.getSuperclass());
            }
            todo.addAll(Arrays.asList(k.getInterfaces()));
        }
        out.add(Object.class);
        return out;
    }

    private static boolean hasField(Class<?> c, String name, String desc) {
        for (Class<?> k : hierarchy(c)) {
            for (Field f : k.getDeclaredFields()) {
                if (f.getName().equals(name) && descriptor(f.getType()).equals(desc)) {
                    return true;
                }
            }
        }
        return false;
    }

    private static boolean hasMethod(Class<?> c, String name, String desc) {
        if (name.equals("<init>")) {
            for (Constructor<?> k : c.getDeclaredConstructors()) {
                if (descriptor(k.getParameterTypes(), void.class).equals(desc)) {
                    return true;
                }
            }
            return false;
        }
        for (Class<?> k : hierarchy(c)) {
            for (Method m : k.getDeclaredMethods()) {
                if (m.getName().equals(name) && descriptor(m.getParameterTypes(), m.getReturnType()).equals(desc)) {
                    return true;
                }
            }
        }
        return false;
    }

    private static String descriptor(Class<?>[] params, Class<?> ret) {
        return Arrays.stream(params).map(PluginJarIT::descriptor).collect(Collectors.joining("", "(", ")")) + descriptor(ret);
    }

    private static String descriptor(Class<?> t) {
        if (t.isArray()) {
            return t.getName().replace('.', '/');
        }
        if (!t.isPrimitive()) {
            return "L" + t.getName().replace('.', '/') + ";";
        }
        return String.valueOf("VZBCSIJFD".charAt(
                Arrays.asList(void.class, boolean.class, byte.class, char.class, short.class, int.class, long.class,
                        float.class, double.class).indexOf(t)));
    }
}

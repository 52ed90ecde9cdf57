package io.zkha.jni;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.nio.file.StandardCopyOption;

/**
 * Loads {@code libzkha_jni.so} from this jar ({@code native/linux-x86_64/}). It is copied to a
 * unique temp file and loaded with {@link System#load}, so that two class loaders in one JVM
 * (two Flink plugins, or a test harness) each get their own copy: the JVM refuses to load the
 * same file into two class loaders. {@code -Dzkha.native.library=/path/libzkha_jni.so} loads a
 * given file instead (development).
 */
public final class NativeLibrary {
    private static final String RESOURCE = "/native/linux-x86_64/libzkha_jni.so";
    private static volatile boolean loaded;

    private NativeLibrary() {}

    /** Loads the library once per class loader. */
    public static synchronized void load() {
        if (loaded) {
            return;
        }
        String override = System.getProperty("zkha.native.library");
        if (override != null && !override.isEmpty()) {
            Path copy = copyToTemp(Paths.get(override));
            System.load(copy.toString());
            loaded = true;
            return;
        }
        String os = System.getProperty("os.name", "").toLowerCase();
        String arch = System.getProperty("os.arch", "");
        if (!os.contains("linux") || !(arch.equals("amd64") || arch.equals("x86_64"))) {
            throw new UnsatisfiedLinkError(
                    "zkha ships a native library for linux-x86_64 only; this JVM runs on " + os + "/" + arch);
        }
        try (InputStream in = NativeLibrary.class.getResourceAsStream(RESOURCE)) {
            if (in == null) {
                throw new UnsatisfiedLinkError(
                        "the zkha jar has no " + RESOURCE + " (built without the native library?)");
            }
            Path tmp = Files.createTempFile("libzkha_jni-", ".so");
            tmp.toFile().deleteOnExit();
            Files.copy(in, tmp, StandardCopyOption.REPLACE_EXISTING);
            System.load(tmp.toString());
            loaded = true;
        } catch (IOException e) {
            throw new UnsatisfiedLinkError("cannot extract the zkha native library: " + e);
        }
    }

    private static Path copyToTemp(Path source) {
        try {
            Path tmp = Files.createTempFile("libzkha_jni-", ".so");
            tmp.toFile().deleteOnExit();
            Files.copy(source, tmp, StandardCopyOption.REPLACE_EXISTING);
            return tmp;
        } catch (IOException e) {
            throw new UnsatisfiedLinkError("cannot copy the zkha native library " + source + ": " + e);
        }
    }
}

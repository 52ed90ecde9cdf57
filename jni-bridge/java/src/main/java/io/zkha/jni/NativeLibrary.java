package io.zkha.jni;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.nio.file.StandardCopyOption;

/**
 * Loads {@code libzkha_jni.so} from this jar ({@code native/linux-x86_64/}). It is copied to a
 * unique file in {@value #TMPDIR_KEY} (default: {@code java.io.tmpdir}), loaded with
 * {@link System#load} and deleted right away: the JVM keeps the loaded library mapped, and no
 * file is left behind, also when the JVM is killed. A unique copy per load means that two class
 * loaders in one JVM (two Flink plugins, or a test harness) each get their own: the JVM refuses
 * to load the same file into two class loaders. {@code -Dzkha.native.library=/path/libzkha_jni.so}
 * loads (a copy of) a given file instead (development).
 *
 * <p>The directory must be on a file system that allows executing code: on one mounted
 * {@code noexec} the load fails with an {@link UnsatisfiedLinkError} naming the directory and
 * the key to set.
 */
public final class NativeLibrary {
    /** The system property naming the directory the library is extracted to. */
    public static final String TMPDIR_KEY = "zkha.native.tmpdir";

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
            try (InputStream in = Files.newInputStream(Paths.get(override))) {
                loadCopy(in);
            } catch (IOException e) {
                throw new UnsatisfiedLinkError("cannot read the zkha native library " + override + ": " + e);
            }
            loaded = true;
            return;
        }
        String os = System.getProperty("os.name", "").toLowerCase();
        String arch = System.getProperty("os.arch", "");
        if (!os.contains("linux") || !(arch.equals("amd64") || arch.equals("x86_64"))) {
            throw new UnsatisfiedLinkError("zkha ships a native library for linux-x86_64 only (glibc 2.17 or "
                    + "newer); this JVM runs on " + os + "/" + arch);
        }
        try (InputStream in = NativeLibrary.class.getResourceAsStream(RESOURCE)) {
            if (in == null) {
                throw new UnsatisfiedLinkError(
                        "the zkha jar has no " + RESOURCE + " (built without the native library?)");
            }
            loadCopy(in);
            loaded = true;
        } catch (IOException e) {
            throw new UnsatisfiedLinkError("cannot read the zkha native library from the jar: " + e);
        }
    }

    /** Copies {@code in} to a unique file in the extraction directory, loads it, deletes it. */
    private static void loadCopy(InputStream in) {
        String configured = System.getProperty(TMPDIR_KEY);
        boolean own = configured != null && !configured.isEmpty();
        Path dir = Paths.get(own ? configured : System.getProperty("java.io.tmpdir"));
        String source = own ? TMPDIR_KEY : "java.io.tmpdir";
        Path copy;
        try {
            copy = Files.createTempFile(dir, "libzkha_jni-", ".so");
        } catch (IOException e) {
            throw new UnsatisfiedLinkError("cannot extract the zkha native library into " + dir + " (" + source
                    + "): " + e + "; set -D" + TMPDIR_KEY + "=<a writable directory>");
        }
        try {
            Files.copy(in, copy, StandardCopyOption.REPLACE_EXISTING);
            System.load(copy.toString());
        } catch (IOException e) {
            throw new UnsatisfiedLinkError("cannot extract the zkha native library into " + dir + " (" + source
                    + "): " + e + "; set -D" + TMPDIR_KEY + "=<a writable directory>");
        } catch (UnsatisfiedLinkError e) {
            throw explain(e, dir, source);
        } finally {
            try {
                Files.deleteIfExists(copy);
            } catch (IOException ignored) {
                // A file that cannot be deleted is left behind; nothing else goes wrong.
            }
        }
    }

    private static UnsatisfiedLinkError explain(UnsatisfiedLinkError e, Path dir, String source) {
        String mount = noexecMount(dir);
        String message;
        if (mount != null) {
            message = "cannot load the zkha native library from " + dir + " (" + source + "): the file system "
                    + "mounted at " + mount + " is noexec. Set -D" + TMPDIR_KEY + "=<a directory on a file "
                    + "system that allows executing code> (Flink: env.java.opts.all), or another java.io.tmpdir. "
                    + "The JVM said: " + e.getMessage();
        } else {
            message = "cannot load the zkha native library extracted into " + dir + " (" + source + "; -D"
                    + TMPDIR_KEY + " chooses another directory): " + e.getMessage()
                    + " (zkha's library needs linux-x86_64 with glibc 2.17 or newer)";
        }
        UnsatisfiedLinkError error = new UnsatisfiedLinkError(message);
        error.initCause(e);
        return error;
    }

    /**
     * The mount point of the file system {@code dir} is on if it is mounted {@code noexec}
     * ({@code /proc/self/mountinfo}); {@code null} if not, or if that cannot be told.
     */
    static String noexecMount(Path dir) {
        Path real;
        try {
            real = dir.toRealPath();
        } catch (IOException e) {
            real = dir.toAbsolutePath().normalize();
        }
        String best = null;
        boolean bestNoexec = false;
        try (BufferedReader r = Files.newBufferedReader(Paths.get("/proc/self/mountinfo"), StandardCharsets.UTF_8)) {
            String line;
            while ((line = r.readLine()) != null) {
                // id parent major:minor root mount-point mount-options ... - type source super-options
                String[] f = line.split(" ");
                if (f.length < 6) {
                    continue;
                }
                String point = f[4].replace("\\040", " ").replace("\\011", "\t").replace("\\134", "\\");
                if (real.startsWith(Paths.get(point)) && (best == null || point.length() >= best.length())) {
                    best = point;
                    bestNoexec = (',' + f[5] + ',').contains(",noexec,");
                }
            }
        } catch (IOException | RuntimeException e) {
            return null;
        }
        return bestNoexec ? best : null;
    }
}

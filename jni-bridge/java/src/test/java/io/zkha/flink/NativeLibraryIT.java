package io.zkha.flink;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.BufferedReader;
import java.io.File;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;
import java.util.stream.Stream;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * How the shipped jar puts its native library on disk, seen from outside a JVM that loads it
 * ({@link NativeLoadChild}): nothing is left in the temp directory while it runs or after a
 * {@code kill -9}; a temp directory on a {@code noexec} file system fails with a message that
 * names the directory and the key to set, and that key works.
 */
class NativeLibraryIT {
    @TempDir
    Path dir;

    /** The JVM running this test. */
    private static String java() {
        return Paths.get(System.getProperty("java.home"), "bin", "java").toString();
    }

    /** A JVM running {@link NativeLoadChild} on the shipped jar, with {@code props} ({@code -D...}). */
    private static List<String> childCommand(String... props) throws Exception {
        Path testClasses = Paths.get(NativeLoadChild.class.getProtectionDomain().getCodeSource().getLocation().toURI());
        List<String> cmd = new ArrayList<>();
        cmd.add(java());
        cmd.addAll(Arrays.asList(props));
        cmd.add("-cp");
        cmd.add(PluginJarIT.pluginJar() + File.pathSeparator + testClasses);
        cmd.add(NativeLoadChild.class.getName());
        return cmd;
    }

    private static List<String> files(Path dir) throws IOException {
        try (Stream<Path> s = Files.list(dir)) {
            return s.map(p -> p.getFileName().toString()).sorted().collect(Collectors.toList());
        }
    }

    @Test
    void extractedLibraryIsGoneWhileLoadedAndAfterKill9() throws Exception {
        Process child = new ProcessBuilder(childCommand("-Djava.io.tmpdir=" + dir))
                .redirectErrorStream(true)
                .start();
        try {
            BufferedReader out = new BufferedReader(new InputStreamReader(child.getInputStream(), StandardCharsets.UTF_8));
            String line = out.readLine();
            assertEquals(NativeLoadChild.LOADED, line, "the child loaded the library and called into it");
            assertEquals(List.of(), files(dir), "nothing left in java.io.tmpdir while the library is loaded");
            // The library stays mapped from the deleted file (what lsof shows as "(deleted)").
            List<String> maps = Files.readAllLines(Paths.get("/proc/" + child.pid() + "/maps"));
            assertTrue(maps.stream().anyMatch(l -> l.contains(dir + "/libzkha_jni-") && l.endsWith("(deleted)")),
                    "the child maps the deleted copy from " + dir);
        } finally {
            child.destroyForcibly(); // SIGKILL: no shutdown hook, no deleteOnExit runs
            assertTrue(child.waitFor(30, TimeUnit.SECONDS));
        }
        assertEquals(137, child.exitValue(), "killed with SIGKILL");
        assertEquals(List.of(), files(dir), "nothing left in java.io.tmpdir after kill -9");
    }

    /** Runs {@code cmd} in a new user and mount namespace in which {@code noexec} is a tmpfs mounted noexec. */
    private static Process inNoexecNamespace(Path noexec, List<String> cmd) throws IOException, InterruptedException {
        List<String> wrapped = new ArrayList<>(Arrays.asList(
                "unshare", "--user", "--map-root-user", "--mount", "sh", "-c",
                "mount -t tmpfs -o noexec zkha-noexec \"$0\" && exec \"$@\"", noexec.toString()));
        wrapped.addAll(cmd);
        return new ProcessBuilder(wrapped).redirectErrorStream(true).start();
    }

    private static String run(Process p) throws Exception {
        String output = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(p.waitFor(60, TimeUnit.SECONDS));
        return output;
    }

    @Test
    void noexecTempDirFailsNamingTheDirectoryAndTheKeyAndTheKeyWorks() throws Exception {
        Path noexec = Files.createDirectory(dir.resolve("noexec"));
        Path exec = Files.createDirectory(dir.resolve("exec"));
        // Can this machine make a noexec mount without privileges (user namespaces)?
        Process probe = inNoexecNamespace(noexec, List.of("grep", " " + noexec + " ", "/proc/self/mountinfo"));
        String mounted = run(probe);
        assumeTrue(probe.exitValue() == 0 && mounted.contains("noexec"),
                "unshare cannot mount a noexec tmpfs here: " + mounted);

        Process failing = inNoexecNamespace(noexec, childCommand("-Djava.io.tmpdir=" + noexec));
        String out = run(failing);
        assertEquals(2, failing.exitValue(), "the load failed: " + out);
        assertTrue(out.contains("UnsatisfiedLinkError"), out);
        assertTrue(out.contains("from " + noexec + " (java.io.tmpdir)"), "names the directory: " + out);
        assertTrue(out.contains("mounted at " + noexec + " is noexec"), "says why: " + out);
        assertTrue(out.contains("-Dzkha.native.tmpdir="), "names the key to set: " + out);

        Process working = inNoexecNamespace(noexec,
                childCommand("-Djava.io.tmpdir=" + noexec, "-Dzkha.native.tmpdir=" + exec, "-Dzkha.child.exit=true"));
        out = run(working);
        assertEquals(0, working.exitValue(), out);
        assertTrue(out.startsWith(NativeLoadChild.LOADED), out);
        assertEquals(List.of(), files(exec), "nothing left in zkha.native.tmpdir");
    }
}

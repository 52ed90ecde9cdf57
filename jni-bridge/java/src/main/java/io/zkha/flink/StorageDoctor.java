package io.zkha.flink;

import java.io.BufferedReader;
import java.io.FileDescriptor;
import java.io.FileOutputStream;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;

import org.apache.flink.configuration.Configuration;
import org.apache.flink.configuration.GlobalConfiguration;
import org.apache.flink.core.fs.FileSystem;
import org.apache.flink.core.fs.Path;
import org.apache.flink.core.plugin.PluginManager;
import org.apache.flink.core.plugin.PluginUtils;

/**
 * {@code zkha doctor}'s storage checks where Flink's file systems are: a JobManager host, with
 * Flink's {@code lib/} and {@code plugins/} (s3://, hdfs://, gs://, abfs:// ...). Run as
 *
 * <pre>
 * FLINK_PLUGINS_DIR=$FLINK_HOME/plugins java -cp "$FLINK_HOME/lib/*:zkha-flink.jar" \
 *     io.zkha.flink.StorageDoctor --conf-dir $FLINK_HOME/conf [--writable URI] &lt; uris
 * </pre>
 *
 * <p>It initialises Flink's file systems from the cluster's configuration and plugins as a
 * JobManager does, then answers, one JSON object per line on stdout: for {@code --writable
 * URI} whether that directory exists and takes a file (written and deleted again), and for
 * every URI read from stdin (one per line: checkpoint and execution-plan pointers) whether
 * the file exists. A URI whose scheme has no file system (a missing plugin), or that cannot
 * be reached, is answered with Flink's own error message. Exit status 0 once every question
 * is answered, 2 on bad usage.
 */
public final class StorageDoctor {
    private StorageDoctor() {}

    /** Runs the checks; see the class comment. */
    public static void main(String[] args) throws IOException {
        String confDir = null;
        String writable = null;
        for (int i = 0; i < args.length; i++) {
            if ("--conf-dir".equals(args[i]) && i + 1 < args.length) {
                confDir = args[++i];
            } else if ("--writable".equals(args[i]) && i + 1 < args.length) {
                writable = args[++i];
            } else {
                System.err.println("usage: StorageDoctor --conf-dir DIR [--writable URI] < URIS");
                System.exit(2);
            }
        }
        // Flink and its file systems log to stdout through log4j/slf4j defaults in some set-ups:
        // keep stdout for the answers.
        PrintStream out = new PrintStream(new FileOutputStream(FileDescriptor.out), true, "UTF-8");
        System.setOut(new PrintStream(new OutputStream() {
            @Override
            public void write(int b) {}
        }, true, "UTF-8"));
        Configuration conf = confDir == null ? new Configuration() : GlobalConfiguration.loadConfiguration(confDir);
        try {
            PluginManager plugins = PluginUtils.createPluginManagerFromRootFolder(conf);
            FileSystem.initialize(conf, plugins);
        } catch (Throwable t) {
            out.println(answer("init", "", false, false, describe(t)));
        }
        if (writable != null) {
            out.println(checkWritable(writable));
        }
        List<String> uris = new ArrayList<>();
        try (BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8))) {
            for (String line; (line = in.readLine()) != null; ) {
                if (!line.trim().isEmpty()) {
                    uris.add(line.trim());
                }
            }
        }
        for (String uri : uris) {
            out.println(checkExists(uri));
        }
        out.flush();
        System.exit(0);
    }

    /** Whether the directory {@code uri} exists and a file can be written into it. */
    static String checkWritable(String uri) {
        try {
            Path dir = new Path(uri);
            FileSystem fs = dir.getFileSystem();
            if (!fs.exists(dir)) {
                return answer("writable", uri, false, false, "does not exist");
            }
            Path probe = new Path(dir, ".zkha-doctor-" + UUID.randomUUID());
            try (OutputStream o = fs.create(probe, FileSystem.WriteMode.NO_OVERWRITE)) {
                o.write("zkha doctor".getBytes(StandardCharsets.UTF_8));
            }
            fs.delete(probe, false);
            return answer("writable", uri, true, true, null);
        } catch (Throwable t) {
            return answer("writable", uri, false, false, describe(t));
        }
    }

    /** Whether the file {@code uri} exists. */
    static String checkExists(String uri) {
        try {
            Path p = new Path(uri);
            boolean exists = p.getFileSystem().exists(p);
            return answer("exists", uri, true, exists, null);
        } catch (Throwable t) {
            return answer("exists", uri, false, false, describe(t));
        }
    }

    /** The first line of each message along the cause chain (Flink puts the fix in them). */
    private static String describe(Throwable t) {
        StringBuilder b = new StringBuilder();
        for (Throwable c = t; c != null && b.length() < 2000; c = c.getCause()) {
            String m = c.getMessage() == null ? c.getClass().getName() : c.getMessage();
            if (b.indexOf(m) >= 0) {
                continue;
            }
            if (b.length() > 0) {
                b.append(": ");
            }
            b.append(m.replace('\n', ' ').trim());
        }
        return b.toString();
    }

    private static String answer(String check, String uri, boolean answered, boolean yes, String error) {
        StringBuilder b = new StringBuilder("{\"check\":").append(quote(check));
        b.append(",\"uri\":").append(quote(uri));
        b.append(",\"answered\":").append(answered);
        b.append(",\"yes\":").append(yes);
        if (error != null) {
            b.append(",\"error\":").append(quote(error));
        }
        return b.append('}').toString();
    }

    private static String quote(String s) {
        StringBuilder b = new StringBuilder("\"");
        for (char c : s.toCharArray()) {
            switch (c) {
                case '"':
                    b.append("\\\"");
                    break;
                case '\\':
                    b.append("\\\\");
                    break;
                default:
                    if (c < 0x20) {
                        b.append(String.format("\\u%04x", (int) c));
                    } else {
                        b.append(c);
                    }
            }
        }
        return b.append('"').toString();
    }
}

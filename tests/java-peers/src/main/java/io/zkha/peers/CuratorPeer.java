package io.zkha.peers;

import java.io.BufferedReader;
import java.io.FileDescriptor;
import java.io.FileOutputStream;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import org.apache.curator.framework.CuratorFramework;
import org.apache.curator.framework.CuratorFrameworkFactory;
import org.apache.curator.framework.recipes.leader.LeaderLatch;
import org.apache.curator.framework.recipes.leader.LeaderLatchListener;
import org.apache.curator.framework.recipes.leader.Participant;
import org.apache.curator.framework.recipes.locks.InterProcessMutex;
import org.apache.curator.retry.ExponentialBackoffRetry;

/**
 * A Curator-based peer that zkha's Rust integration tests drive over a line protocol, to prove
 * that zkha's recipes interoperate with Curator's {@link LeaderLatch} and
 * {@link InterProcessMutex} on the same ZooKeeper paths.
 *
 * <pre>
 * CuratorPeer &lt;connectString&gt; &lt;sessionTimeoutMs&gt; latch &lt;latchPath&gt; &lt;participantId&gt;
 * CuratorPeer &lt;connectString&gt; &lt;sessionTimeoutMs&gt; mutex &lt;lockPath&gt;
 * </pre>
 *
 * <p>Commands arrive one per line on stdin; every stdout line is a protocol line, flushed at once.
 * Diagnostics (and anything a library prints to {@code System.out}) go to stderr. See README.md
 * for the protocol. The JVM exits when stdin reaches EOF, so the peer dies with its parent.
 */
public final class CuratorPeer {
    /** The real stdout, reserved for protocol lines. */
    private static final PrintStream OUT =
            new PrintStream(new FileOutputStream(FileDescriptor.out), true, StandardCharsets.UTF_8);

    /** Milliseconds a shutdown may take before the JVM is halted regardless. */
    private static final long SHUTDOWN_GRACE_MS = 10_000;

    /** Queue marker for "stdin reached EOF" (compared by identity). */
    private static final String EOF = new String("<eof>");

    private static final AtomicBoolean STDIN_EOF = new AtomicBoolean();
    private static final AtomicBoolean SHUTTING_DOWN = new AtomicBoolean();
    private static final AtomicBoolean WATCHDOG_ARMED = new AtomicBoolean();

    private CuratorPeer() {}

    /** Prints one protocol line on stdout and flushes it. */
    static void emit(String line) {
        synchronized (OUT) {
            OUT.println(line);
            OUT.flush();
        }
    }

    static void log(String message) {
        System.err.println("[CuratorPeer] " + message);
        System.err.flush();
    }

    /** One line describing an exception, for {@code ERROR <message>}. */
    static String oneLine(Throwable e) {
        String msg = e.getMessage();
        String text = e.getClass().getSimpleName() + (msg == null || msg.isBlank() ? "" : ": " + msg);
        return text.replaceAll("[\\r\\n]+", " ").strip();
    }

    private interface Peer {
        /** Starts the recipe; called once after READY. */
        void start() throws Exception;

        /** Handles one command; returns false if the command is unknown. */
        boolean handle(String cmd, String[] args) throws Exception;

        /** Releases what the recipe holds; called once on exit. */
        void close() throws Exception;
    }

    /** latch mode: a Curator LeaderLatch. */
    private static final class LatchPeer implements Peer {
        private final LeaderLatch latch;

        LatchPeer(CuratorFramework client, String path, String participantId) {
            latch = new LeaderLatch(client, path, participantId);
            latch.addListener(new LeaderLatchListener() {
                @Override
                public void isLeader() {
                    emit("GRANTED");
                }

                @Override
                public void notLeader() {
                    emit("REVOKED");
                }
            });
        }

        @Override
        public void start() throws Exception {
            latch.start();
        }

        @Override
        public boolean handle(String cmd, String[] args) throws Exception {
            switch (cmd) {
                case "close" -> {
                    latch.close();
                    emit("CLOSED");
                }
                case "status" -> emit("LEADER " + latch.hasLeadership());
                case "node" -> {
                    String path = latch.getOurPath();
                    emit("NODE " + (path == null ? "none" : path));
                }
                case "leader" -> {
                    Participant leader = latch.getLeader();
                    emit(leader.isLeader() ? "LEADER_ID " + leader.getId() : "NO_LEADER");
                }
                default -> {
                    return false;
                }
            }
            return true;
        }

        @Override
        public void close() throws Exception {
            if (latch.getState() == LeaderLatch.State.STARTED) {
                latch.close();
            }
        }
    }

    /** mutex mode: a Curator InterProcessMutex (all commands run on one thread). */
    private static final class MutexPeer implements Peer {
        private final InterProcessMutex mutex;

        MutexPeer(CuratorFramework client, String path) {
            mutex = new InterProcessMutex(client, path);
        }

        @Override
        public void start() {}

        @Override
        public boolean handle(String cmd, String[] args) throws Exception {
            switch (cmd) {
                case "acquire" -> {
                    boolean acquired;
                    if (args.length == 0) {
                        mutex.acquire();
                        acquired = true;
                    } else {
                        acquired = mutex.acquire(Long.parseLong(args[0]), TimeUnit.MILLISECONDS);
                    }
                    emit(acquired ? "ACQUIRED" : "TIMEOUT");
                }
                case "release" -> {
                    mutex.release();
                    emit("RELEASED");
                }
                case "held" -> emit("HELD " + mutex.isAcquiredInThisProcess());
                default -> {
                    return false;
                }
            }
            return true;
        }

        @Override
        public void close() throws Exception {
            while (mutex.isOwnedByCurrentThread()) {
                mutex.release();
            }
        }
    }

    private static void usage(String problem) {
        log(problem);
        System.err.println("usage: CuratorPeer <connectString> <sessionTimeoutMs> latch <latchPath> <participantId>");
        System.err.println("       CuratorPeer <connectString> <sessionTimeoutMs> mutex <lockPath>");
        System.err.flush();
        System.exit(2);
    }

    /** Halts the JVM if a shutdown (or an EOF) has not ended it within the grace period. */
    private static void armWatchdog() {
        if (!WATCHDOG_ARMED.compareAndSet(false, true)) {
            return;
        }
        Thread t = new Thread(() -> {
            try {
                Thread.sleep(SHUTDOWN_GRACE_MS);
            } catch (InterruptedException e) {
                return;
            }
            log("shutdown took longer than " + SHUTDOWN_GRACE_MS + " ms; halting");
            Runtime.getRuntime().halt(1);
        }, "shutdown-watchdog");
        t.setDaemon(true);
        t.start();
    }

    /** Reads stdin into the command queue; on EOF wakes the main thread so the JVM exits. */
    private static void readStdin(BlockingQueue<String> commands, Thread main) {
        try (BufferedReader in =
                new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8))) {
            String line;
            while ((line = in.readLine()) != null) {
                commands.add(line);
            }
        } catch (IOException e) {
            log("stdin: " + oneLine(e));
        }
        STDIN_EOF.set(true);
        commands.add(EOF);
        armWatchdog();
        // Wake the main thread if a command (or the initial connect) is blocking it.
        if (!SHUTTING_DOWN.get()) {
            main.interrupt();
        }
    }

    public static void main(String[] args) {
        // Library output must never reach the protocol stream.
        System.setOut(System.err);

        if (args.length < 3) {
            usage("missing arguments");
        }
        String connectString = args[0];
        int sessionTimeoutMs = 0;
        try {
            sessionTimeoutMs = Integer.parseInt(args[1]);
        } catch (NumberFormatException e) {
            usage("sessionTimeoutMs is not a number: " + args[1]);
        }
        if (sessionTimeoutMs <= 0) {
            usage("sessionTimeoutMs must be positive");
        }
        String mode = args[2];
        switch (mode) {
            case "latch" -> {
                if (args.length != 5) {
                    usage("latch mode takes <latchPath> <participantId>");
                }
            }
            case "mutex" -> {
                if (args.length != 4) {
                    usage("mutex mode takes <lockPath>");
                }
            }
            default -> usage("unknown mode: " + mode);
        }

        BlockingQueue<String> commands = new LinkedBlockingQueue<>();
        Thread mainThread = Thread.currentThread();
        Thread reader = new Thread(() -> readStdin(commands, mainThread), "stdin-reader");
        reader.setDaemon(true);
        reader.start();

        CuratorFramework client = CuratorFrameworkFactory.builder()
                .connectString(connectString)
                .sessionTimeoutMs(sessionTimeoutMs)
                .connectionTimeoutMs(Math.min(15_000, sessionTimeoutMs))
                .retryPolicy(new ExponentialBackoffRetry(100, 10))
                // Keep using exactly the connect string given (e.g. a fault proxy's address);
                // the tracker would otherwise switch to the servers listed in /zookeeper/config.
                .ensembleTracker(false)
                .build();
        client.getConnectionStateListenable().addListener((c, state) -> emit("STATE " + state));

        Peer peer = null;
        try {
            client.start();
            client.blockUntilConnected();
            emit("READY");
            peer = mode.equals("latch")
                    ? new LatchPeer(client, args[3], args[4])
                    : new MutexPeer(client, args[3]);
            peer.start();
            serve(peer, commands);
        } catch (InterruptedException e) {
            // stdin reached EOF while blocked: fall through to shutdown.
        } catch (Exception e) {
            log("fatal: " + oneLine(e));
            emit("ERROR " + oneLine(e));
        }
        shutdown(client, peer);
    }

    private static void serve(Peer peer, BlockingQueue<String> commands) throws InterruptedException {
        while (true) {
            String line = commands.take();
            if (line == EOF) {
                return;
            }
            String[] words = line.strip().split("\\s+");
            if (words[0].isEmpty()) {
                continue;
            }
            String cmd = words[0];
            if (cmd.equals("exit")) {
                return;
            }
            try {
                if (!peer.handle(cmd, Arrays.copyOfRange(words, 1, words.length))) {
                    emit("ERROR unknown command: " + cmd);
                }
            } catch (InterruptedException e) {
                if (STDIN_EOF.get()) {
                    return;
                }
                emit("ERROR " + oneLine(e));
            } catch (Exception e) {
                emit("ERROR " + oneLine(e));
            }
        }
    }

    private static void shutdown(CuratorFramework client, Peer peer) {
        SHUTTING_DOWN.set(true);
        armWatchdog();
        Thread.interrupted(); // clear a pending EOF interrupt so closing is not cut short
        if (peer != null) {
            try {
                peer.close();
            } catch (Exception e) {
                log("closing recipe: " + oneLine(e));
            }
        }
        try {
            client.close();
        } catch (Exception e) {
            log("closing client: " + oneLine(e));
        }
        OUT.flush();
        System.exit(0);
    }
}

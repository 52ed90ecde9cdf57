package io.zkha.peers;

import java.io.FileDescriptor;
import java.io.FileOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.CyclicBarrier;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import org.apache.curator.framework.CuratorFramework;
import org.apache.curator.framework.CuratorFrameworkFactory;
import org.apache.curator.framework.recipes.leader.LeaderLatch;
import org.apache.curator.framework.recipes.leader.LeaderLatchListener;
import org.apache.curator.framework.recipes.locks.InterProcessMutex;
import org.apache.curator.retry.ExponentialBackoffRetry;

/**
 * Curator's side of zkha's peer benchmark ({@code zkha-peer-bench}): the same workloads as
 * zkha's drivers, with Curator's {@link InterProcessMutex} and {@link LeaderLatch}, printing one
 * JSON line of results on stdout.
 *
 * <pre>
 * CuratorBench lock      &lt;connect&gt; &lt;path&gt; &lt;warmup&gt; &lt;cycles&gt;
 * CuratorBench cycles    &lt;connect&gt; &lt;path&gt; &lt;cycles&gt;
 * CuratorBench contended &lt;connect&gt; &lt;path&gt; &lt;sessions&gt; &lt;seconds&gt;
 * CuratorBench handover  &lt;connect&gt; &lt;base&gt; &lt;rounds&gt;
 * </pre>
 */
public final class CuratorBench {
    private static final PrintStream OUT =
            new PrintStream(new FileOutputStream(FileDescriptor.out), true, StandardCharsets.UTF_8);

    private CuratorBench() {}

    public static void main(String[] args) throws Exception {
        // Libraries' own prints go to stderr: stdout carries the one result line.
        System.setOut(System.err);
        if (args.length < 3) {
            usage();
        }
        String connect = args[1];
        String path = args[2];
        switch (args[0]) {
            case "lock":
                lock(connect, path, num(args, 3), num(args, 4));
                break;
            case "cycles":
                cycles(connect, path, num(args, 3));
                break;
            case "contended":
                contended(connect, path, num(args, 3), num(args, 4));
                break;
            case "handover":
                handover(connect, path, num(args, 3));
                break;
            default:
                usage();
        }
    }

    private static int num(String[] args, int i) {
        if (args.length <= i) {
            usage();
        }
        return Integer.parseInt(args[i]);
    }

    private static void usage() {
        System.err.println(
                "usage: CuratorBench lock|cycles|contended|handover <connect> <path> <numbers...>");
        System.exit(2);
    }

    /** A started client, connected; the settings of {@link CuratorPeer}. */
    private static CuratorFramework client(String connect) throws InterruptedException {
        CuratorFramework c =
                CuratorFrameworkFactory.builder()
                        .connectString(connect)
                        .sessionTimeoutMs(10_000)
                        .connectionTimeoutMs(10_000)
                        .retryPolicy(new ExponentialBackoffRetry(100, 10))
                        .ensembleTracker(false)
                        .build();
        c.start();
        if (!c.blockUntilConnected(30, TimeUnit.SECONDS)) {
            throw new IllegalStateException("no connection to " + connect);
        }
        return c;
    }

    private static double ms(long nanos) {
        return nanos / 1e6;
    }

    private static double median(double[] xs) {
        double[] s = xs.clone();
        Arrays.sort(s);
        return s[(s.length - 1) / 2];
    }

    private static double quantile(double[] xs, double q) {
        double[] s = xs.clone();
        Arrays.sort(s);
        return s[(int) Math.round((s.length - 1) * q)];
    }

    private static void lock(String connect, String path, int warmup, int cycles) throws Exception {
        try (CuratorFramework c = client(connect)) {
            InterProcessMutex m = new InterProcessMutex(c, path);
            for (int i = 0; i < warmup; i++) {
                m.acquire();
                m.release();
            }
            double[] lat = new double[cycles];
            for (int i = 0; i < cycles; i++) {
                long t = System.nanoTime();
                m.acquire();
                m.release();
                lat[i] = ms(System.nanoTime() - t);
            }
            OUT.printf(
                    "{\"n\": %d, \"p50_ms\": %.4f, \"p90_ms\": %.4f}%n",
                    cycles, median(lat), quantile(lat, 0.9));
        }
    }

    private static void cycles(String connect, String path, int cycles) throws Exception {
        try (CuratorFramework c = client(connect)) {
            InterProcessMutex m = new InterProcessMutex(c, path);
            for (int i = 0; i < cycles; i++) {
                m.acquire();
                m.release();
            }
            OUT.printf("{\"n\": %d}%n", cycles);
        }
    }

    private static void contended(String connect, String path, int sessions, int seconds)
            throws Exception {
        List<CuratorFramework> clients = new ArrayList<>();
        try {
            for (int i = 0; i < sessions; i++) {
                clients.add(client(connect));
            }
            CyclicBarrier start = new CyclicBarrier(sessions + 1);
            AtomicLong total = new AtomicLong();
            long[] deadline = new long[1];
            List<Thread> threads = new ArrayList<>();
            for (CuratorFramework c : clients) {
                InterProcessMutex m = new InterProcessMutex(c, path);
                Thread t =
                        new Thread(
                                () -> {
                                    try {
                                        m.acquire(); // warm: the path exists, the code is loaded
                                        m.release();
                                        start.await();
                                        long n = 0;
                                        while (System.nanoTime() < deadline[0]) {
                                            m.acquire();
                                            m.release();
                                            n++;
                                        }
                                        total.addAndGet(n);
                                    } catch (Exception e) {
                                        throw new RuntimeException(e);
                                    }
                                });
                t.start();
                threads.add(t);
            }
            deadline[0] = Long.MAX_VALUE;
            // Every thread warmed and waiting: set the deadline, then release them together.
            while (start.getNumberWaiting() < sessions) {
                Thread.sleep(1);
            }
            long t0 = System.nanoTime();
            deadline[0] = t0 + TimeUnit.SECONDS.toNanos(seconds);
            start.await();
            for (Thread t : threads) {
                t.join();
            }
            double elapsed = (System.nanoTime() - t0) / 1e9;
            OUT.printf(
                    "{\"acquisitions\": %d, \"seconds\": %.4f, \"per_s\": %.3f}%n",
                    total.get(), elapsed, total.get() / elapsed);
        } finally {
            for (CuratorFramework c : clients) {
                c.close();
            }
        }
    }

    private static void handover(String connect, String base, int rounds) throws Exception {
        try (CuratorFramework a = client(connect);
                CuratorFramework b = client(connect)) {
            double[] lat = new double[rounds];
            for (int i = 0; i < rounds; i++) {
                String latch = base + "/" + i;
                LeaderLatch la = new LeaderLatch(a, latch, "a");
                la.start();
                if (!la.await(10, TimeUnit.SECONDS)) {
                    throw new IllegalStateException("a did not lead " + latch);
                }
                LeaderLatch lb = new LeaderLatch(b, latch, "b");
                long[] granted = new long[1];
                CountDownLatch leads = new CountDownLatch(1);
                lb.addListener(
                        new LeaderLatchListener() {
                            @Override
                            public void isLeader() {
                                granted[0] = System.nanoTime();
                                leads.countDown();
                            }

                            @Override
                            public void notLeader() {}
                        });
                lb.start();
                Thread.sleep(50); // b's node is in place, its watch set
                long t0 = System.nanoTime();
                la.close();
                if (!leads.await(30, TimeUnit.SECONDS)) {
                    throw new IllegalStateException("b did not lead " + latch);
                }
                lat[i] = ms(granted[0] - t0);
                lb.close();
            }
            OUT.printf(
                    "{\"n\": %d, \"p50_ms\": %.4f, \"p90_ms\": %.4f}%n",
                    rounds, median(lat), quantile(lat, 0.9));
        }
    }
}

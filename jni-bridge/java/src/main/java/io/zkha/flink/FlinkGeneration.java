package io.zkha.flink;

import java.lang.reflect.Constructor;
import java.lang.reflect.Method;
import java.lang.reflect.Modifier;
import java.util.ArrayDeque;
import java.util.Arrays;
import java.util.Deque;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.Executor;
import java.util.stream.Collectors;

import org.apache.flink.configuration.Configuration;
import org.apache.flink.configuration.IllegalConfigurationException;
import org.apache.flink.runtime.blob.BlobStoreService;
import org.apache.flink.runtime.highavailability.HighAvailabilityServices;
import org.apache.flink.runtime.util.EnvironmentInformation;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The Flink generations zkha supports, told apart by the classes their flink-runtime has. Each
 * has its own {@code AbstractHaServices} subclass, compiled against its own flink-runtime and
 * named here only as a string: a class of another generation is never loaded (its signatures
 * name classes this Flink does not have).
 */
enum FlinkGeneration {
    /** Flink 1.20: JobGraphStore, RestoreMode. */
    FLINK_1_20("1.20", "io.zkha.flink.HaServicesFlink120"),
    /** Flink 2.0, 2.1 and 2.2: ExecutionPlanStore, RecoveryClaimMode. */
    FLINK_2_0("2.0 to 2.2", "io.zkha.flink.HaServicesFlink20"),
    /** Flink 2.3: also ApplicationStore and ApplicationResultStore. */
    FLINK_2_3("2.3", "io.zkha.flink.HaServicesFlink23");

    /** The versions this jar supports and was tested with. */
    static final String SUPPORTED = "Flink 1.20, 2.0, 2.1, 2.2 and 2.3";
    private static final List<String> TESTED = Arrays.asList("1.20.", "2.0.", "2.1.", "2.2.", "2.3.");
    private static final Logger LOG = LoggerFactory.getLogger(FlinkGeneration.class);

    private static volatile Constructor<?> services;
    private static volatile FlinkGeneration current;

    final String versions;
    final String servicesClass;

    FlinkGeneration(String versions, String servicesClass) {
        this.versions = versions;
        this.servicesClass = servicesClass;
    }

    /** The generation of the Flink zkha runs in; fails start-up on an unsupported Flink. */
    static FlinkGeneration current() {
        FlinkGeneration g = current;
        if (g == null) {
            g = detect(FlinkGeneration.class.getClassLoader());
            if (g == null) {
                throw unsupported("it has none of the classes zkha's generations are built on"
                        + " (org.apache.flink.runtime.jobmanager.ExecutionPlanStore, or"
                        + " org.apache.flink.runtime.jobmanager.JobGraphStore with"
                        + " org.apache.flink.core.execution.RestoreMode)");
            }
            String version = flinkVersion();
            if (TESTED.stream().noneMatch(version::startsWith)) {
                LOG.warn("zkha was built for {} and has not been tested with Flink {}: using its classes for Flink {}",
                        SUPPORTED, version, g.versions);
            }
            current = g;
        }
        return g;
    }

    /** Which generation the classes visible to {@code loader} are; null if none. */
    static FlinkGeneration detect(ClassLoader loader) {
        if (has(loader, "org.apache.flink.runtime.highavailability.ApplicationResultStore")
                && has(loader, "org.apache.flink.runtime.jobmanager.ApplicationStore")) {
            return FLINK_2_3;
        }
        if (has(loader, "org.apache.flink.runtime.jobmanager.ExecutionPlanStore")) {
            return FLINK_2_0;
        }
        // 1.19 has JobGraphStore too, but its RestoreMode is org.apache.flink.runtime.jobgraph's.
        if (has(loader, "org.apache.flink.runtime.jobmanager.JobGraphStore")
                && has(loader, "org.apache.flink.core.execution.RestoreMode")) {
            return FLINK_1_20;
        }
        return null;
    }

    private static boolean has(ClassLoader loader, String name) {
        try {
            Class.forName(name, false, loader);
            return true;
        } catch (ClassNotFoundException | LinkageError e) {
            return false;
        }
    }

    /** The version of the Flink in this JVM, as Flink tells it ({@code <unknown>} if it cannot). */
    static String flinkVersion() {
        try {
            return EnvironmentInformation.getVersion();
        } catch (RuntimeException | LinkageError e) {
            return "<unknown> (" + e + ")";
        }
    }

    static IllegalConfigurationException unsupported(String why) {
        return new IllegalConfigurationException("zkha (high-availability.type: " + ZkhaHaServicesFactory.class.getName()
                + ") supports " + SUPPORTED + "; this is Flink " + flinkVersion() + ", which it cannot run on: " + why);
    }

    /** The generation's JobManager HA services on {@code client}. */
    static HighAvailabilityServices createServices(
            ZkhaClient client, Configuration conf, Executor ioExecutor, BlobStoreService blobStore) throws Exception {
        Constructor<?> ctor = services;
        if (ctor == null) {
            ctor = servicesConstructor(current());
            services = ctor;
        }
        try {
            return (HighAvailabilityServices) ctor.newInstance(client, conf, ioExecutor, blobStore);
        } catch (java.lang.reflect.InvocationTargetException e) {
            Throwable cause = e.getCause();
            if (cause instanceof Exception) {
                throw (Exception) cause;
            }
            if (cause instanceof Error) {
                throw (Error) cause;
            }
            throw e;
        }
    }

    private static Constructor<?> servicesConstructor(FlinkGeneration g) throws ClassNotFoundException, NoSuchMethodException {
        Class<?> c = Class.forName(g.servicesClass, true, FlinkGeneration.class.getClassLoader());
        Set<String> missing = unimplemented(c);
        if (!missing.isEmpty()) {
            throw unsupported("its HighAvailabilityServices need " + missing + ", which zkha's classes for Flink "
                    + g.versions + " do not implement");
        }
        Constructor<?> ctor = c.getDeclaredConstructor(
                ZkhaClient.class, Configuration.class, Executor.class, BlobStoreService.class);
        ctor.setAccessible(true);
        return ctor;
    }

    /**
     * The abstract methods (of its classes and interfaces) that {@code c} has no implementation
     * of, as {@code name(parameter types)}. The JVM loads and instantiates such a class without
     * complaint and fails only when the method is called: a future Flink that adds an abstract
     * method to its HA services must fail at start-up instead.
     */
    static Set<String> unimplemented(Class<?> c) {
        Set<String> abstracts = new TreeSet<>();
        Set<String> concrete = new HashSet<>();
        Deque<Class<?>> interfaces = new ArrayDeque<>();
        for (Class<?> k = c; k != null; k = k.getSuperclass()) {
            for (Method m : k.getDeclaredMethods()) {
                if (Modifier.isStatic(m.getModifiers()) || Modifier.isPrivate(m.getModifiers())) {
                    continue;
                }
                (Modifier.isAbstract(m.getModifiers()) ? abstracts : concrete).add(key(m));
            }
            interfaces.addAll(Arrays.asList(k.getInterfaces()));
        }
        Set<Class<?>> seen = new HashSet<>();
        while (!interfaces.isEmpty()) {
            Class<?> i = interfaces.pop();
            if (!seen.add(i)) {
                continue;
            }
            for (Method m : i.getDeclaredMethods()) {
                if (m.isDefault()) {
                    concrete.add(key(m));
                } else if (Modifier.isAbstract(m.getModifiers())) {
                    abstracts.add(key(m));
                }
            }
            interfaces.addAll(Arrays.asList(i.getInterfaces()));
        }
        abstracts.removeAll(concrete);
        return abstracts;
    }

    private static String key(Method m) {
        return m.getName() + Arrays.stream(m.getParameterTypes()).map(Class::getName).collect(Collectors.joining(", ", "(", ")"));
    }
}

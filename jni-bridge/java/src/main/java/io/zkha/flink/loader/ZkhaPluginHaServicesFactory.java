package io.zkha.flink.loader;

import java.io.File;
import java.net.MalformedURLException;
import java.net.URL;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import java.util.concurrent.Executor;

import org.apache.flink.configuration.ConfigOption;
import org.apache.flink.configuration.ConfigOptions;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.configuration.CoreOptions;
import org.apache.flink.configuration.IllegalConfigurationException;
import org.apache.flink.core.plugin.PluginDescriptor;
import org.apache.flink.core.plugin.PluginLoader;
import org.apache.flink.runtime.highavailability.ClientHighAvailabilityServices;
import org.apache.flink.runtime.highavailability.HighAvailabilityServices;
import org.apache.flink.runtime.highavailability.HighAvailabilityServicesFactory;

/**
 * The small factory that goes into Flink's {@code lib/} when zkha itself is installed as a
 * plugin in {@code plugins/zkha/}: Flink loads HA factories only from the application class
 * path, so this class loads the real factory ({@code io.zkha.flink.ZkhaHaServicesFactory}) from
 * the plugin directory in a class loader of its own: Flink's own plugin class loader, child-first
 * for everything but the classes Flink keeps parent-first for plugins (Flink's
 * {@code org.apache.flink.*}, the logging APIs, {@code java.*};
 * {@code plugin.classloader.parent-first-patterns.*}). Works the same on Flink 1.20 to 2.3.
 *
 * <p>Set {@code high-availability.type: io.zkha.flink.loader.ZkhaPluginHaServicesFactory}. The
 * plugin directory is {@code high-availability.zkha.plugin-dir}, else
 * {@code $FLINK_PLUGINS_DIR/zkha}, else {@code $FLINK_HOME/plugins/zkha}, else
 * {@code plugins/zkha}.
 */
public class ZkhaPluginHaServicesFactory implements HighAvailabilityServicesFactory {
    static final ConfigOption<String> PLUGIN_DIR =
            ConfigOptions.key("high-availability.zkha.plugin-dir").stringType().noDefaultValue();
    private static final String REAL = "io.zkha.flink.ZkhaHaServicesFactory";

    private static volatile HighAvailabilityServicesFactory delegate;

    /** Flink instantiates the factory reflectively. */
    public ZkhaPluginHaServicesFactory() {}

    static File pluginDir(Configuration conf) {
        String configured = conf.getOptional(PLUGIN_DIR).orElse(null);
        if (configured != null) {
            return new File(configured);
        }
        String plugins = System.getenv("FLINK_PLUGINS_DIR");
        if (plugins != null) {
            return new File(plugins, "zkha");
        }
        String home = System.getenv("FLINK_HOME");
        if (home != null) {
            return new File(new File(home, "plugins"), "zkha");
        }
        return new File("plugins", "zkha");
    }

    private static synchronized HighAvailabilityServicesFactory delegate(Configuration conf) throws Exception {
        if (delegate != null) {
            return delegate;
        }
        File dir = pluginDir(conf);
        File[] jars = dir.listFiles((d, n) -> n.endsWith(".jar"));
        if (jars == null || jars.length == 0) {
            throw new IllegalConfigurationException("high-availability.zkha.plugin-dir: no zkha jar in " + dir.getAbsolutePath()
                    + " (put zkha-flink-*.jar there, or set high-availability.zkha.plugin-dir)");
        }
        List<URL> urls = new ArrayList<>();
        for (File jar : jars) {
            try {
                urls.add(jar.toURI().toURL());
            } catch (MalformedURLException e) {
                throw new IllegalConfigurationException("bad plugin jar path " + jar, e);
            }
        }
        ClassLoader loader = PluginLoader.createPluginClassLoader(
                new PluginDescriptor("zkha", urls.toArray(new URL[0]), new String[0]),
                ZkhaPluginHaServicesFactory.class.getClassLoader(),
                CoreOptions.getPluginParentFirstLoaderPatterns(conf));
        delegate = (HighAvailabilityServicesFactory) Class.forName(REAL, true, loader).getDeclaredConstructor().newInstance();
        return delegate;
    }

    @Override
    public HighAvailabilityServices createHAServices(Configuration configuration, Executor executor) throws Exception {
        HighAvailabilityServicesFactory real = delegate(configuration);
        return inPluginContext(real, () -> real.createHAServices(configuration, executor));
    }

    @Override
    public ClientHighAvailabilityServices createClientHAServices(Configuration configuration) throws Exception {
        HighAvailabilityServicesFactory real = delegate(configuration);
        return inPluginContext(real, () -> real.createClientHAServices(configuration));
    }

    /** Runs {@code call} with the plugin's class loader as the thread's context class loader. */
    private static <T> T inPluginContext(HighAvailabilityServicesFactory real, Callable<T> call) throws Exception {
        Thread thread = Thread.currentThread();
        ClassLoader previous = thread.getContextClassLoader();
        thread.setContextClassLoader(real.getClass().getClassLoader());
        try {
            return call.call();
        } finally {
            thread.setContextClassLoader(previous);
        }
    }
}

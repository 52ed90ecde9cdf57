package io.zkha.flink;

import java.lang.management.ManagementFactory;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicInteger;

import javax.management.Attribute;
import javax.management.AttributeList;
import javax.management.AttributeNotFoundException;
import javax.management.DynamicMBean;
import javax.management.JMException;
import javax.management.MBeanAttributeInfo;
import javax.management.MBeanInfo;
import javax.management.MBeanServer;
import javax.management.ObjectName;
import javax.management.ReflectionException;

import io.zkha.jni.Native;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A zkha client's metrics as a JMX MBean ({@code io.zkha:type=Client,cluster=<cluster id>,
 * client=<n>}), so the exporters Flink users already run (the Prometheus JMX exporter, a JMX
 * agent of their monitoring) pick them up: {@code State} (the connection state) and one
 * {@code Long} attribute per core metric ({@code grants}, {@code revokes_node_deleted},
 * {@code forced_takeovers}, {@code lease_remaining_ms}, ...; docs/metrics.md), read from the
 * core at each access. The same numbers as the Prometheus endpoint
 * ({@code high-availability.zkha.metrics.port}).
 */
final class ZkhaClientMetrics implements DynamicMBean {
    private static final Logger LOG = LoggerFactory.getLogger(ZkhaClientMetrics.class);
    private static final AtomicInteger SEQUENCE = new AtomicInteger();
    static final String STATE = "State";

    private final long client;
    private final MBeanInfo info;

    private ZkhaClientMetrics(long client) {
        this.client = client;
        List<MBeanAttributeInfo> attributes = new ArrayList<>();
        attributes.add(new MBeanAttributeInfo(STATE, String.class.getName(),
                "connection state: connecting, connected, suspended, reconnected, lost, expired or closed",
                true, false, false));
        for (String name : read().keySet()) {
            if (!name.equals(STATE)) {
                attributes.add(new MBeanAttributeInfo(name, Long.class.getName(),
                        "zkha metric " + name + " (docs/metrics.md)", true, false, false));
            }
        }
        this.info = new MBeanInfo(getClass().getName(), "zkha client metrics",
                attributes.toArray(new MBeanAttributeInfo[0]), null, null, null);
    }

    /**
     * Registers the metrics of native client {@code client} of cluster {@code clusterId} with
     * the platform MBean server; the name, or null if JMX refused (logged, never fatal).
     */
    static ObjectName register(long client, String clusterId) {
        try {
            ObjectName name = new ObjectName("io.zkha:type=Client,cluster="
                    + ObjectName.quote(clusterId) + ",client=" + SEQUENCE.incrementAndGet());
            ManagementFactory.getPlatformMBeanServer().registerMBean(new ZkhaClientMetrics(client), name);
            return name;
        } catch (JMException | RuntimeException e) {
            LOG.warn("zkha: metrics not registered with JMX: {}", e.toString());
            return null;
        }
    }

    /** Unregisters {@code name} (null: nothing). */
    static void unregister(ObjectName name) {
        if (name == null) {
            return;
        }
        MBeanServer server = ManagementFactory.getPlatformMBeanServer();
        try {
            server.unregisterMBean(name);
        } catch (JMException | RuntimeException e) {
            LOG.debug("zkha: unregistering {}: {}", name, e.toString());
        }
    }

    /** State and every metric, by name. */
    private Map<String, Object> read() {
        String[] lines = Native.clientMetrics(client).split("\n");
        Map<String, Object> values = new LinkedHashMap<>();
        values.put(STATE, lines[0]);
        for (int i = 1; i < lines.length; i++) {
            int eq = lines[i].indexOf('=');
            values.put(lines[i].substring(0, eq), Long.parseLong(lines[i].substring(eq + 1)));
        }
        return values;
    }

    @Override
    public Object getAttribute(String attribute) throws AttributeNotFoundException {
        Object v = read().get(attribute);
        if (v == null) {
            throw new AttributeNotFoundException(attribute);
        }
        return v;
    }

    @Override
    public AttributeList getAttributes(String[] attributes) {
        Map<String, Object> values = read();
        AttributeList list = new AttributeList();
        for (String a : attributes) {
            Object v = values.get(a);
            if (v != null) {
                list.add(new Attribute(a, v));
            }
        }
        return list;
    }

    @Override
    public void setAttribute(Attribute attribute) throws AttributeNotFoundException {
        throw new AttributeNotFoundException(attribute.getName() + " is read-only");
    }

    @Override
    public AttributeList setAttributes(AttributeList attributes) {
        return new AttributeList();
    }

    @Override
    public Object invoke(String actionName, Object[] params, String[] signature) throws ReflectionException {
        throw new ReflectionException(new NoSuchMethodException(actionName), "zkha metrics have no operations");
    }

    @Override
    public MBeanInfo getMBeanInfo() {
        return info;
    }
}

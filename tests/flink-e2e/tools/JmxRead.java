import javax.management.MBeanAttributeInfo;
import javax.management.MBeanServerConnection;
import javax.management.ObjectName;
import javax.management.remote.JMXConnector;
import javax.management.remote.JMXConnectorFactory;
import javax.management.remote.JMXServiceURL;

/**
 * Prints every attribute of the zkha MBeans of a JVM over remote JMX, one
 * {@code <object name> <attribute>=<value>} line each: what a JMX exporter reads. Run as a
 * source file: {@code java JmxRead.java 127.0.0.1:<port>}.
 */
public class JmxRead {
    public static void main(String[] args) throws Exception {
        JMXServiceURL url = new JMXServiceURL("service:jmx:rmi:///jndi/rmi://" + args[0] + "/jmxrmi");
        try (JMXConnector c = JMXConnectorFactory.connect(url)) {
            MBeanServerConnection s = c.getMBeanServerConnection();
            for (ObjectName n : s.queryNames(new ObjectName("io.zkha:type=Client,*"), null)) {
                for (MBeanAttributeInfo a : s.getMBeanInfo(n).getAttributes()) {
                    System.out.println(n + " " + a.getName() + "=" + s.getAttribute(n, a.getName()));
                }
            }
        }
    }
}

import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.apache.zookeeper.CreateMode;
import org.apache.zookeeper.KeeperException;
import org.apache.zookeeper.Watcher;
import org.apache.zookeeper.ZooDefs;
import org.apache.zookeeper.ZooKeeper;
import org.apache.zookeeper.data.ACL;
import org.apache.zookeeper.data.ClientInfo;
import org.apache.zookeeper.data.Stat;

/**
 * A Java ZooKeeper client for the test kit's secured ensembles: connects (TLS, SASL and JAAS
 * come from system properties), creates PATH with the creator-only ACL (which needs an
 * authenticated identity), and prints the node's ACL and the client's identities.
 *
 * <p>Usage: ZkProbe CONNECT_STRING PATH. Exit 0: done; 3: not connected; 4: refused.
 */
public class ZkProbe {
  public static void main(String[] args) throws Exception {
    CountDownLatch connected = new CountDownLatch(1);
    ZooKeeper zk = new ZooKeeper(args[0], 10000, event -> {
      System.out.println("event " + event.getState());
      if (event.getState() == Watcher.Event.KeeperState.SyncConnected) {
        connected.countDown();
      }
    });
    try {
      if (!connected.await(30, TimeUnit.SECONDS)) {
        System.out.println("not connected: " + zk.getState());
        System.exit(3);
      }
      zk.create(args[1], "probe".getBytes("UTF-8"), ZooDefs.Ids.CREATOR_ALL_ACL,
          CreateMode.PERSISTENT);
      StringBuilder acl = new StringBuilder("acl");
      for (ACL a : zk.getACL(args[1], new Stat())) {
        acl.append(' ').append(a.getId().getScheme()).append(':').append(a.getId().getId());
      }
      System.out.println(acl);
      StringBuilder ids = new StringBuilder("whoami");
      for (ClientInfo c : zk.whoAmI()) {
        ids.append(' ').append(c.getAuthScheme()).append(':').append(c.getUser());
      }
      System.out.println(ids);
    } catch (KeeperException e) {
      System.out.println("refused " + e.code());
      System.exit(4);
    } finally {
      zk.close();
    }
  }
}

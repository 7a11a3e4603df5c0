package dev.ncro.discovery;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.net.InetAddress;
import java.nio.charset.StandardCharsets;
import java.util.Map;
import javax.jmdns.JmDNS;
import javax.jmdns.ServiceInfo;

/**
 * A LAN cache's announcement, as a separate JVM for {@link DiscoveryIT}: JmDNS registers
 * {@code INSTANCE} of {@code TYPE} at {@code PORT} (TXT {@code path=PATH} when given) on
 * {@code ADDRESS}, prints {@code announced}, and on the line {@code withdraw} on its standard input
 * unregisters it (goodbye packets) and prints {@code withdrawn}. The records' TTL is JmDNS's
 * {@code -Dnet.dns.ttl} (seconds), so a test can let an announcement expire by killing the process.
 *
 * <p>Usage: {@code MdnsAnnouncer ADDRESS TYPE INSTANCE PORT [PATH]}
 */
public final class MdnsAnnouncer {
  private MdnsAnnouncer() {}

  public static void main(String[] args) throws Exception {
    InetAddress address = InetAddress.getByName(args[0]);
    Map<String, String> txt = args.length > 4 ? Map.of("path", args[4]) : Map.of();
    ServiceInfo info = ServiceInfo.create(args[1], args[2], Integer.parseInt(args[3]), 0, 0, txt);
    try (JmDNS jmdns =
        JmDNS.create(address, "announcer-" + ProcessHandle.current().pid())) {
      jmdns.registerService(info);
      System.out.println("announced " + info.getQualifiedName());
      System.out.flush();
      BufferedReader in =
          new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
      for (String line = in.readLine(); line != null; line = in.readLine()) {
        if (line.equals("withdraw")) {
          jmdns.unregisterService(info);
          System.out.println("withdrawn");
          System.out.flush();
        }
      }
    }
  }
}

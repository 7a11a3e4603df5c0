package dev.ncro.discovery;

import dev.ncro.config.DiscoveryConfig;
import java.io.IOException;
import java.net.Inet4Address;
import java.net.InetAddress;
import java.net.NetworkInterface;
import java.net.SocketException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.List;
import java.util.Locale;
import java.util.Optional;
import java.util.stream.Stream;
import javax.jmdns.JmDNS;
import javax.jmdns.ServiceEvent;
import javax.jmdns.ServiceInfo;
import javax.jmdns.ServiceListener;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Browses the LAN for {@code discovery.service} with JmDNS (mDNS / DNS-SD) and reports what it
 * finds to {@link DiscoveredCaches}. One JmDNS responder per network interface that is up and
 * multicast-capable (a normal loopback is not: Linux gives {@code lo} no MULTICAST flag), on the
 * interface's IPv4 address, else its first IPv6 one. JmDNS keeps the record cache: it reports a
 * service as removed on its goodbye packet (TTL 0) or when its records expire (their TTL, checked
 * every 10 s), which is what ends a discovered upstream.
 */
public final class MdnsDiscovery implements AutoCloseable {
  private static final Logger log = LoggerFactory.getLogger(MdnsDiscovery.class);
  private final List<JmDNS> responders;
  private final DiscoveredCaches caches;

  private MdnsDiscovery(List<JmDNS> responders, DiscoveredCaches caches) {
    this.responders = responders;
    this.caches = caches;
  }

  /** Starts browsing on every usable interface; none usable is logged, not fatal. */
  public static MdnsDiscovery start(DiscoveryConfig config, DiscoveredCaches caches)
      throws IOException {
    List<JmDNS> started = new ArrayList<>();
    String name = "ncro-" + ProcessHandle.current().pid();
    try {
      for (InetAddress address : interfaceAddresses()) {
        JmDNS j = JmDNS.create(address, name);
        started.add(j);
        j.addServiceListener(config.serviceType(), new Listener(caches, address.getHostAddress()));
      }
    } catch (IOException | RuntimeException e) {
      started.forEach(MdnsDiscovery::closeQuietly);
      throw new IOException("discovery: could not start mDNS: " + e.getMessage(), e);
    }
    if (started.isEmpty()) {
      log.atWarn()
          .setMessage(
              "discovery enabled, but no network interface is up and multicast-capable: nothing to browse")
          .log();
    } else {
      log.atInfo()
          .setMessage("mDNS discovery browsing")
          .addKeyValue("service", config.serviceType())
          .addKeyValue(
              "addresses",
              started.stream()
                  .map(j -> {
                    try {
                      return j.getInetAddress().getHostAddress();
                    } catch (IOException e) {
                      return "?";
                    }
                  })
                  .toList())
          .log();
    }
    return new MdnsDiscovery(List.copyOf(started), caches);
  }

  /** One address per interface that is up, multicast-capable and not point-to-point. */
  static List<InetAddress> interfaceAddresses() throws SocketException {
    List<InetAddress> out = new ArrayList<>();
    for (NetworkInterface ni : Collections.list(NetworkInterface.getNetworkInterfaces())) {
      if (!ni.isUp() || !ni.supportsMulticast() || ni.isPointToPoint()) {
        continue;
      }
      List<InetAddress> addresses = Collections.list(ni.getInetAddresses());
      addresses.stream()
          .filter(Inet4Address.class::isInstance)
          .findFirst()
          .or(() -> addresses.stream().findFirst())
          .ifPresent(out::add);
    }
    return out;
  }

  /**
   * Starts closing: discovered upstreams leave the registry now, and each responder sends its
   * goodbyes, which JmDNS spaces a second apart (about 2 s in all, measured). Run the returned
   * task to wait for the end; {@link Ncro} starts this before it drains the HTTP server, so the two
   * waits overlap.
   */
  public Runnable beginClose() {
    caches.close();
    List<Thread> closing = responders.stream()
        .map(j -> Thread.ofVirtual().name("ncro-mdns-close").start(() -> closeQuietly(j)))
        .toList();
    return () -> {
      for (Thread t : closing) {
        try {
          t.join();
        } catch (InterruptedException e) {
          Thread.currentThread().interrupt();
          return;
        }
      }
    };
  }

  @Override
  public void close() {
    beginClose().run();
  }

  private static void closeQuietly(JmDNS j) {
    try {
      j.close();
    } catch (IOException | RuntimeException e) {
      log.atDebug()
          .setMessage("closing an mDNS responder failed")
          .addKeyValue("error", e.getMessage())
          .log();
    }
  }

  /** JmDNS's callbacks (its own threads) translated into announcements and withdrawals. */
  private record Listener(DiscoveredCaches caches, String via) implements ServiceListener {
    @Override
    public void serviceAdded(ServiceEvent event) {
      // JmDNS resolves the instance by itself (SRV, TXT, addresses) and then calls serviceResolved.
      log.atDebug()
          .setMessage("mDNS service seen")
          .addKeyValue("instance", event.getName())
          .addKeyValue("via", via)
          .log();
    }

    @Override
    public void serviceRemoved(ServiceEvent event) {
      caches.withdrawn(key(event), "mDNS announcement withdrawn or expired");
    }

    @Override
    public void serviceResolved(ServiceEvent event) {
      ServiceInfo info = event.getInfo();
      List<InetAddress> addresses = Stream.concat(
              Arrays.stream(info.getInet4Addresses()), Arrays.stream(info.getInet6Addresses()))
          .map(InetAddress.class::cast)
          .toList();
      String path = Optional.ofNullable(info.getPropertyString("path")).orElse("");
      caches.announced(new DiscoveredCaches.Announcement(
          key(event), event.getName(), addresses, info.getPort(), path));
    }

    private String key(ServiceEvent event) {
      return (via + " " + event.getType() + " " + event.getName()).toLowerCase(Locale.ROOT);
    }
  }
}

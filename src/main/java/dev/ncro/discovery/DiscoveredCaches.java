package dev.ncro.discovery;

import dev.ncro.config.DiscoveryConfig;
import dev.ncro.config.UpstreamConfig;
import dev.ncro.upstream.Upstream;
import dev.ncro.upstream.UpstreamRegistry;
import java.net.Inet4Address;
import java.net.Inet6Address;
import java.net.InetAddress;
import java.net.URI;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.regex.Pattern;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Turns mDNS announcements into upstreams: an announced {@code _nix-serve._tcp} instance becomes a
 * discovered upstream in the {@link UpstreamRegistry} while it is announced, and leaves it when the
 * announcement is withdrawn (goodbye) or expires. Kept apart from the mDNS library so the rules
 * (which URL, which keys, what a configured upstream of the same URL means) are plain code.
 *
 * <p>The URL is {@code http://ADDRESS:PORT} plus the TXT record's {@code path} (the DNS-SD
 * convention for HTTP services), with the announced IPv4 address preferred (then a global IPv6
 * one): an address, not the {@code .local} host name, because the JVM's resolver does not resolve
 * mDNS names. Several instances announcing one URL (the same cache seen on two interfaces) make one
 * upstream, removed when the last of them goes. A URL that is also configured is left to the
 * configuration: discovery never adds, changes or removes a configured upstream.
 */
public final class DiscoveredCaches {
  private static final Logger log = LoggerFactory.getLogger(DiscoveredCaches.class);
  /** A TXT {@code path}: absolute, plain characters only (it becomes part of every request line). */
  private static final Pattern PATH = Pattern.compile("(/[A-Za-z0-9._~!$&'()*+,;=:@%-]+)*/?");

  private final UpstreamRegistry registry;
  private final DiscoveryConfig config;
  private final double latencyAlpha;
  /** Instance key (interface and service instance) to the URL it announced. */
  private final Map<String, URI> instances = new HashMap<>();

  private boolean closed;

  public DiscoveredCaches(UpstreamRegistry registry, DiscoveryConfig config, double latencyAlpha) {
    this.registry = registry;
    this.config = config;
    this.latencyAlpha = latencyAlpha;
  }

  /** One resolved announcement: the addresses, port and TXT {@code path} the instance gave. */
  public record Announcement(
      String key, String instance, List<InetAddress> addresses, int port, String path) {
    public Announcement {
      addresses = List.copyOf(addresses);
    }
  }

  /**
   * {@code a} is announced (again, or with new data): its upstream is added, or moved when the
   * URL changed. An announcement without a usable address, port or path is ignored (and logged).
   */
  public synchronized void announced(Announcement a) {
    if (closed) {
      return; // an event JmDNS delivers while it closes
    }
    Optional<URI> url = urlOf(a);
    if (url.isEmpty()) {
      log.atWarn()
          .setMessage("mDNS announcement ignored: no usable address, port or path")
          .addKeyValue("instance", a.instance())
          .addKeyValue("addresses", a.addresses())
          .addKeyValue("port", a.port())
          .addKeyValue("path", a.path())
          .log();
      withdrawn(a.key(), "announcement no longer usable");
      return;
    }
    URI before = instances.put(a.key(), url.get());
    if (url.get().equals(before)) {
      return; // a renewal: nothing changes
    }
    if (before != null) {
      release(before, "re-announced as " + url.get());
    }
    Optional<Upstream> present = registry.byName(url.get().toString());
    if (present.isPresent()) {
      if (!present.get().discovered()) {
        log.atInfo()
            .setMessage("mDNS announcement of a configured upstream: the configuration applies")
            .addKeyValue("instance", a.instance())
            .addKeyValue("upstream", url.get())
            .log();
      }
      return; // configured, or already discovered through another instance
    }
    UpstreamConfig c = new UpstreamConfig(url.get(), config.priority(), config.publicKeys());
    registry.addDiscovered(Upstream.discovered(c, latencyAlpha, a.instance()));
  }

  /** The instance {@code key} was withdrawn or expired. */
  public synchronized void withdrawn(String key, String cause) {
    URI url = instances.remove(key);
    if (url != null) {
      release(url, cause);
    }
  }

  /** Discovery stops: everything it added goes, and later announcements are ignored. */
  public synchronized void close() {
    closed = true;
    for (URI url : List.copyOf(instances.values())) {
      registry.removeDiscovered(url.toString(), "discovery stopped");
    }
    instances.clear();
  }

  /** Removes the upstream at {@code url} unless another instance still announces it. */
  private void release(URI url, String cause) {
    if (!instances.containsValue(url)) {
      registry.removeDiscovered(url.toString(), cause);
    }
  }

  /** The upstream URL an announcement names, or empty when it names none ncro could use. */
  static Optional<URI> urlOf(Announcement a) {
    if (a.port() <= 0 || a.port() > 65535) {
      return Optional.empty();
    }
    String path = a.path() == null ? "" : a.path();
    if (!path.isEmpty() && !PATH.matcher(path).matches()) {
      return Optional.empty();
    }
    Optional<InetAddress> address = a.addresses().stream()
        .filter(Inet4Address.class::isInstance)
        .findFirst()
        .or(() -> a.addresses().stream()
            .filter(x -> x instanceof Inet6Address && !x.isLinkLocalAddress())
            .findFirst());
    return address.map(x -> {
      String text =
          x.getHostAddress().replaceFirst("%.*$", ""); // no zone: not a link-local address
      String host = x instanceof Inet6Address ? "[" + text + "]" : text;
      return UpstreamConfig.normalize(URI.create("http://" + host + ":" + a.port() + path));
    });
  }
}

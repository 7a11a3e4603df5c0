package dev.ncro.discovery;

import static org.assertj.core.api.Assertions.assertThat;

import dev.ncro.config.DiscoveryConfig;
import dev.ncro.config.UpstreamConfig;
import dev.ncro.discovery.DiscoveredCaches.Announcement;
import dev.ncro.upstream.Upstream;
import dev.ncro.upstream.UpstreamRegistry;
import java.net.InetAddress;
import java.net.URI;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/** Announcements in, registry changes out: the rules of discovery without the network. */
class DiscoveredCachesTest {
  private static final String KEY = "lan-cache-1:6NCHdD59X431o0gWypbMrAURkbJ16ZPMQFGspcDShjY=";
  private static final DiscoveryConfig CONFIG =
      new DiscoveryConfig(true, "_nix-serve._tcp", "local", 20, List.of(KEY));
  private final Upstream configured =
      new Upstream(new UpstreamConfig(URI.create("http://10.0.0.5:5000"), 10, List.of()), 0.3);
  private final UpstreamRegistry registry =
      new UpstreamRegistry(List.of(configured), Duration.ofMinutes(1));
  private final List<String> events = new ArrayList<>();
  private final DiscoveredCaches caches = new DiscoveredCaches(registry, CONFIG, 0.3);

  DiscoveredCachesTest() {
    registry.addListener(new UpstreamRegistry.Listener() {
      @Override
      public void added(Upstream u) {
        events.add("+" + u.name());
      }

      @Override
      public void removed(Upstream u) {
        events.add("-" + u.name());
      }
    });
  }

  private static Announcement ann(String key, String address, int port, String path)
      throws Exception {
    return new Announcement(
        key, "cache " + key, List.of(InetAddress.getByName(address)), port, path);
  }

  @Test
  void anAnnouncedCacheIsAnUpstreamUntilWithdrawn() throws Exception {
    caches.announced(ann("a", "192.168.1.7", 5000, ""));
    Upstream u = registry.byName("http://192.168.1.7:5000").orElseThrow();
    assertThat(u.discovered()).isTrue();
    assertThat(u.discoveredAs()).isEqualTo("cache a");
    assertThat(u.priority()).isEqualTo(20);
    assertThat(u.keys()).extracting(Object::toString).hasSize(1);
    assertThat(registry.all()).containsExactly(configured, u);
    caches.announced(ann("a", "192.168.1.7", 5000, "")); // a renewal changes nothing
    caches.withdrawn("a", "goodbye");
    assertThat(registry.all()).containsExactly(configured);
    assertThat(events).containsExactly("+http://192.168.1.7:5000", "-http://192.168.1.7:5000");
  }

  @Test
  void theTxtPathIsPartOfTheUrlAndAChangedUrlMovesTheUpstream() throws Exception {
    caches.announced(ann("a", "192.168.1.7", 5000, ""));
    caches.announced(ann("a", "192.168.1.7", 5000, "/nix/cache/"));
    assertThat(registry.all())
        .extracting(Upstream::name)
        .containsExactly("http://10.0.0.5:5000", "http://192.168.1.7:5000/nix/cache");
    assertThat(events)
        .containsExactly(
            "+http://192.168.1.7:5000",
            "-http://192.168.1.7:5000",
            "+http://192.168.1.7:5000/nix/cache");
  }

  @Test
  void aConfiguredUpstreamIsNeverTakenOverOrRemovedByDiscovery() throws Exception {
    caches.announced(ann("a", "10.0.0.5", 5000, ""));
    assertThat(registry.all()).containsExactly(configured);
    caches.withdrawn("a", "goodbye");
    caches.close();
    assertThat(registry.all()).containsExactly(configured);
    assertThat(registry.removeDiscovered("http://10.0.0.5:5000", "test")).isEmpty();
    assertThat(registry.all()).containsExactly(configured);
    assertThat(events).isEmpty();
  }

  @Test
  void oneUpstreamForTwoInstancesOfOneUrlRemovedWithTheLast() throws Exception {
    caches.announced(ann("eth0 a", "192.168.1.7", 5000, ""));
    caches.announced(ann("wlan0 a", "192.168.1.7", 5000, ""));
    assertThat(registry.all()).hasSize(2);
    caches.withdrawn("eth0 a", "expired");
    assertThat(registry.byName("http://192.168.1.7:5000")).isPresent();
    caches.withdrawn("wlan0 a", "expired");
    assertThat(registry.byName("http://192.168.1.7:5000")).isEmpty();
    assertThat(events).containsExactly("+http://192.168.1.7:5000", "-http://192.168.1.7:5000");
  }

  @Test
  void unusableAnnouncementsAreIgnoredAndEndAPreviousOne() throws Exception {
    caches.announced(ann("a", "192.168.1.7", 0, ""));
    caches.announced(ann("b", "192.168.1.8", 5000, "/a b"));
    caches.announced(new Announcement("c", "no address", List.of(), 5000, ""));
    caches.announced(ann("d", "fe80::1", 5000, "")); // link-local IPv6 only: would need a zone
    assertThat(registry.all()).containsExactly(configured);
    caches.announced(ann("a", "192.168.1.7", 5000, ""));
    caches.announced(ann("a", "192.168.1.7", 0, ""));
    assertThat(registry.all()).containsExactly(configured);
  }

  @Test
  void ipv4IsPreferredThenAGlobalIpv6Address() throws Exception {
    Announcement both = new Announcement(
        "a",
        "a",
        List.of(InetAddress.getByName("2001:db8::7"), InetAddress.getByName("192.168.1.7")),
        5000,
        "");
    assertThat(DiscoveredCaches.urlOf(both)).contains(URI.create("http://192.168.1.7:5000"));
    Announcement v6 = new Announcement(
        "a",
        "a",
        List.of(InetAddress.getByName("fe80::1"), InetAddress.getByName("2001:db8::7")),
        5000,
        "");
    assertThat(DiscoveredCaches.urlOf(v6))
        .contains(URI.create("http://[2001:db8:0:0:0:0:0:7]:5000"));
  }

  @Test
  void stoppingRemovesEverythingDiscoveredAndIgnoresLateAnnouncements() throws Exception {
    caches.announced(ann("a", "192.168.1.7", 5000, ""));
    caches.announced(ann("b", "192.168.1.8", 5000, ""));
    caches.close();
    assertThat(registry.all()).containsExactly(configured);
    caches.announced(ann("c", "192.168.1.9", 5000, ""));
    assertThat(registry.all()).containsExactly(configured);
  }
}

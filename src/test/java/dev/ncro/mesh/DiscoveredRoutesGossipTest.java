package dev.ncro.mesh;

import static org.assertj.core.api.Assertions.assertThat;

import dev.ncro.config.UpstreamConfig;
import dev.ncro.route.Route;
import dev.ncro.route.RouteStore;
import dev.ncro.support.MutableClock;
import dev.ncro.upstream.Upstream;
import dev.ncro.upstream.UpstreamRegistry;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Gossip names a discovered upstream by its URL, like any other, while it is discovered; a peer
 * uses such a route only when it lists the same URL itself.
 */
class DiscoveredRoutesGossipTest {
  private static final List<String> KEYS =
      List.of("lan-cache-1:6NCHdD59X431o0gWypbMrAURkbJ16ZPMQFGspcDShjY=");

  @TempDir
  Path dir;

  private static Upstream lan() {
    return Upstream.discovered(
        new UpstreamConfig(URI.create("http://192.168.1.7:5000"), 20, KEYS), 0.3, "lan");
  }

  @Test
  void aDiscoveredUpstreamsRoutesAreGossipedByUrlOnlyWhileItIsThere() throws Exception {
    MutableClock clock = new MutableClock();
    Upstream configured =
        new Upstream(new UpstreamConfig(URI.create("https://cache.example"), 10, List.of()), 0.3);
    UpstreamRegistry registry = new UpstreamRegistry(List.of(configured), Duration.ofMinutes(1));
    Upstream lan = lan();
    registry.addDiscovered(lan);
    try (RouteStore store = RouteStore.open(dir.resolve("routes.db"), 100, 10, clock)) {
      long now = clock.millis();
      String onLan = "1".repeat(32);
      String onConfigured = "2".repeat(32);
      for (String[] r : new String[][] {{onLan, lan.name()}, {onConfigured, configured.name()}}) {
        store.put(new Route(
            r[0],
            r[1],
            3,
            "nar/" + r[0] + ".nar.xz",
            "sha256:f",
            "sha256:n",
            10,
            "StorePath: x\n".getBytes(StandardCharsets.UTF_8),
            now,
            now + 60_000));
      }
      LocalRoutes local = new LocalRoutes(store, registry, 100);
      assertThat(local.newestFirst())
          .extracting(GossipRoute::upstreamUrl)
          .containsExactlyInAnyOrder("http://192.168.1.7:5000", "https://cache.example");

      // A peer that has not discovered that URL ignores the route; one that has, uses it.
      UpstreamRegistry elsewhere = new UpstreamRegistry(List.of(configured), Duration.ofMinutes(1));
      assertThat(elsewhere.byUrl("http://192.168.1.7:5000")).isEmpty();
      Upstream sameLan = lan();
      elsewhere.addDiscovered(sameLan);
      assertThat(elsewhere.byUrl("http://192.168.1.7:5000")).contains(sameLan);

      registry.removeDiscovered(lan.name(), "withdrawn");
      assertThat(local.newestFirst())
          .extracting(GossipRoute::upstreamUrl)
          .containsExactly("https://cache.example");
    }
  }
}

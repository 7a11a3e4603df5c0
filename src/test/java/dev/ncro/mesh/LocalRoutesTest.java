package dev.ncro.mesh;

import static org.assertj.core.api.Assertions.assertThat;

import dev.ncro.config.PathFilter;
import dev.ncro.config.PathFilters;
import dev.ncro.config.UpstreamConfig;
import dev.ncro.route.Route;
import dev.ncro.route.RouteStore;
import dev.ncro.support.TestNarinfo;
import dev.ncro.upstream.RequestAuth;
import dev.ncro.upstream.Upstream;
import dev.ncro.upstream.UpstreamRegistry;
import java.net.URI;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** What a node announces: its live routes, but never the fallback cache's, nor a path the upstream's filters refuse. */
class LocalRoutesTest {
  @TempDir
  Path dir;

  @Test
  void fallbackRoutesAndFilteredPathsAreNotAnnounced() throws Exception {
    URI open = URI.create("http://open.example");
    URI picky = URI.create("http://picky.example");
    URI fallback = URI.create("http://fallback.example");
    Upstream pickyUpstream = new Upstream(
        new UpstreamConfig(picky, 20, List.of())
            .withFilters(new PathFilters(List.of(
                new PathFilter(PathFilter.Action.DENY, PathFilter.Field.NAME, "test-zz*")))),
        0.3);
    UpstreamRegistry registry = new UpstreamRegistry(
        List.of(new Upstream(new UpstreamConfig(open, 10, List.of()), 0.3), pickyUpstream),
        Upstream.fallback(new UpstreamConfig(fallback, 10, List.of()), 0.3, RequestAuth.NONE),
        Duration.ofMinutes(1));
    Clock clock = Clock.systemUTC();
    try (RouteStore store = RouteStore.open(dir.resolve("r.db"), 100, 10, clock)) {
      long now = clock.millis();
      String viaOpen = TestNarinfo.hash(1);
      String viaPicky = TestNarinfo.hash(2); // its name, test-zzzz, is denied on picky
      String viaFallback = TestNarinfo.hash(3);
      store.put(route(viaOpen, open, now));
      store.put(route(viaPicky, picky, now));
      store.put(route(viaFallback, fallback, now));
      assertThat(new LocalRoutes(store, registry, 100).newestFirst())
          .extracting(GossipRoute::storePath)
          .containsExactly(viaOpen);
    }
  }

  private static Route route(String hash, URI upstream, long now) {
    return new Route(
        hash,
        upstream.toString(),
        5,
        "nar/" + hash + ".nar",
        "sha256:f",
        "sha256:n",
        4,
        TestNarinfo.make(hash, "nar/" + hash + ".nar", 4, null),
        now,
        now + 60_000);
  }
}

package dev.ncro.router;

import static org.assertj.core.api.Assertions.assertThat;

import dev.ncro.config.UpstreamConfig;
import dev.ncro.narinfo.CacheFileKind;
import dev.ncro.route.NegativeCache;
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
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * What an upstream found by mDNS may be asked for: a NAR only when its own (verified) narinfo
 * routed it there, and only the cache files whose body is verified against its keys.
 */
class DiscoveredUpstreamPlanTest {
  private static final String HASH = "0".repeat(32);
  private static final String NAR = "nar/abc.nar.xz";
  private static final List<String> KEYS =
      List.of("lan-cache-1:6NCHdD59X431o0gWypbMrAURkbJ16ZPMQFGspcDShjY=");

  @TempDir
  Path dir;

  private final MutableClock clock = new MutableClock();
  private RouteStore store;
  private Upstream configured;
  private Upstream lan;
  private UpstreamRegistry registry;

  @BeforeEach
  void setUp() throws Exception {
    store = RouteStore.open(dir.resolve("routes.db"), 100, 10, clock);
    configured =
        new Upstream(new UpstreamConfig(URI.create("http://configured.test"), 10, List.of()), 0.3);
    lan = Upstream.discovered(
        new UpstreamConfig(URI.create("http://192.168.1.7:5000"), 20, KEYS), 0.3, "lan");
    configured.stats().recordSuccess(30);
    lan.stats().recordSuccess(2); // far faster: it would come first were it not discovered
    registry = new UpstreamRegistry(List.of(configured), Duration.ofMinutes(1));
    registry.addDiscovered(lan);
  }

  @AfterEach
  void close() {
    store.close();
  }

  private void route(Upstream u) {
    long now = clock.millis();
    store.put(new Route(
        HASH,
        u.name(),
        5,
        NAR,
        "sha256:file",
        "sha256:nar",
        10,
        "StorePath: x\n".getBytes(StandardCharsets.UTF_8),
        now,
        now + 60_000));
  }

  @Test
  void aNarGoesToADiscoveredUpstreamOnlyWhenItsNarinfoRoutedItThere() {
    NarRouter router = new NarRouter(registry, store);
    assertThat(router.plan(NAR).order()).containsExactly(configured);
    route(configured);
    assertThat(router.plan(NAR).order()).containsExactly(configured);
    route(lan);
    assertThat(router.plan(NAR).order()).containsExactly(lan, configured);
  }

  @Test
  void onlyVerifiedCacheFilesAreAskedOfADiscoveredUpstream() {
    CacheFileRouter files = new CacheFileRouter(
        registry,
        store,
        new FileRoutes(100, Duration.ofHours(1), clock),
        new NegativeCache(Duration.ofMinutes(10), 100, clock));
    for (CacheFileKind kind : CacheFileKind.values()) {
      FilePlan plan = files.plan(kind, "/some/path", HASH);
      if (kind.verified()) {
        assertThat(plan.race()).as(kind.name()).containsExactly(lan, configured);
      } else {
        assertThat(plan.race()).as(kind.name()).containsExactly(configured);
        assertThat(plan.notAsked()).as(kind.name()).isZero();
      }
    }
    route(
        lan); // a listing is asked first of its narinfo's upstream: not when that one is discovered
    assertThat(files.plan(CacheFileKind.LISTING, "/" + HASH + ".ls", HASH).first())
        .isNull();
  }
}

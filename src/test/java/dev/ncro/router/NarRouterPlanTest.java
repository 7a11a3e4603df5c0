package dev.ncro.router;

import static org.assertj.core.api.Assertions.assertThat;

import dev.ncro.config.UpstreamConfig;
import dev.ncro.route.Route;
import dev.ncro.route.RouteStore;
import dev.ncro.support.MutableClock;
import dev.ncro.upstream.FailureKind;
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

/** The order in which a NAR request tries upstreams: the routed one first, then latency order. */
class NarRouterPlanTest {
  private static final String HASH = "0".repeat(32);
  private static final String NAR = "nar/abc.nar.xz";

  @TempDir
  Path dir;

  private final MutableClock clock = new MutableClock();
  private RouteStore store;
  private Upstream a;
  private Upstream b;
  private Upstream c;
  private UpstreamRegistry registry;
  private NarRouter router;

  @BeforeEach
  void setUp() throws Exception {
    store = RouteStore.open(dir.resolve("routes.db"), 100, 10, clock);
    a = upstream("http://a.test", 10);
    b = upstream("http://b.test", 10);
    c = upstream("http://c.test", 10);
    a.stats().recordSuccess(30);
    b.stats().recordSuccess(10);
    c.stats().recordSuccess(20);
    registry = new UpstreamRegistry(List.of(a, b, c), Duration.ofMinutes(1));
    router = new NarRouter(registry, store);
  }

  @AfterEach
  void close() {
    store.close();
  }

  private static Upstream upstream(String url, int priority) {
    return new Upstream(new UpstreamConfig(URI.create(url), priority, List.of()), 0.3);
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

  private static void failTimes(Upstream u, int n) {
    for (int i = 0; i < n; i++) {
      u.stats().recordFailure();
    }
  }

  @Test
  void withoutARouteEveryUpstreamInLatencyOrder() {
    NarRouter.NarPlan plan = router.plan(NAR);
    assertThat(plan.order()).containsExactly(b, c, a);
    assertThat(plan.routed()).isNull();
    assertThat(plan.routeHash()).isNull();
    assertThat(plan.fileHash()).isNull();
  }

  @Test
  void theRoutedUpstreamGoesFirstAndTheFileIsNamed() {
    route(a);
    NarRouter.NarPlan plan = router.plan(NAR);
    assertThat(plan.order()).containsExactly(a, b, c);
    assertThat(plan.routed()).isSameAs(a);
    assertThat(plan.routeHash()).isEqualTo(HASH);
    assertThat(plan.fileHash()).isEqualTo("sha256:file");
  }

  @Test
  void aDownRoutedUpstreamIsTriedLastNotDropped() {
    route(a);
    failTimes(a, 10);
    NarRouter.NarPlan plan = router.plan(NAR);
    assertThat(plan.order()).containsExactly(b, c, a);
    assertThat(plan.routed()).isSameAs(a);
  }

  @Test
  void suspendedAndDownUpstreamsComeAfterTheAvailableOnes() {
    failTimes(b, 10); // DOWN
    registry.failure(c, FailureKind.CONNECT, "refused", System.nanoTime()); // suspended
    NarRouter.NarPlan plan = router.plan(NAR);
    assertThat(plan.order()).containsExactly(a, b, c);
  }

  @Test
  void aRouteToAnUpstreamNoLongerConfiguredIsIgnored() {
    long now = clock.millis();
    store.put(new Route(
        HASH,
        "http://gone.test",
        5,
        NAR,
        "sha256:file",
        "sha256:nar",
        10,
        "StorePath: x\n".getBytes(StandardCharsets.UTF_8),
        now,
        now + 60_000));
    NarRouter.NarPlan plan = router.plan(NAR);
    assertThat(plan.order()).containsExactly(b, c, a);
    assertThat(plan.routed()).isNull();
    assertThat(plan.routeHash()).isEqualTo(HASH);
  }

  @Test
  void losingTheRoutedUpstreamForgetsTheRoute() {
    route(a);
    router.routedUpstreamLost(router.plan(NAR));
    assertThat(store.get(HASH)).isEmpty();
    assertThat(router.plan(NAR).routed()).isNull();
  }
}

package dev.ncro.route;

import static org.assertj.core.api.Assertions.assertThat;

import dev.ncro.support.MutableClock;
import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Test;

class RouteMemoryCacheTest {
  private static Route route(int i) {
    String hash = String.format("%032d", i);
    return new Route(
        hash,
        "http://up",
        1,
        "nar/" + hash + ".nar",
        "sha256:f",
        "sha256:n",
        1,
        ("StorePath: /nix/store/" + hash + "-x\n").getBytes(StandardCharsets.UTF_8),
        0,
        1);
  }

  @Test
  void routesUsedOftenAreNotPushedOutByAStreamOfRoutesUsedOnce() {
    RouteMemoryCache m = new RouteMemoryCache(100, new MutableClock());
    for (int round = 0; round < 20; round++) {
      for (int i = 0; i < 50; i++) {
        if (m.get(route(i).hash()) == null) {
          m.put(route(i));
        }
      }
    }
    // 10 000 routes read once each, as random hits over a large store bring them up, while the 50
    // are still in use: 100 of the others between two uses of each (an LRU of 100 would have
    // dropped every one of the 50 by then).
    for (int i = 1000; i < 11_000; i++) {
      m.put(route(i));
      if (i % 100 == 0) {
        for (int h = 0; h < 50; h++) {
          if (m.get(route(h).hash()) == null) {
            m.put(route(h));
          }
        }
      }
    }
    int hot = 0;
    for (int i = 0; i < 50; i++) {
      hot += m.get(route(i).hash()) != null ? 1 : 0;
    }
    assertThat(hot).as("hot routes still in memory").isGreaterThanOrEqualTo(45);
    assertThat(m.size()).isLessThanOrEqualTo(100);
  }

  @Test
  void theNarUrlIndexFollowsEvictionAndNeverOutgrowsTheCache() {
    RouteMemoryCache m = new RouteMemoryCache(50, new MutableClock());
    for (int i = 0; i < 5_000; i++) {
      m.put(route(i));
    }
    int indexed = 0;
    for (int i = 0; i < 5_000; i++) {
      Route byUrl = m.byNarUrl(route(i).narUrl());
      Route byHash = m.get(route(i).hash());
      if (byUrl != null) {
        indexed++;
        assertThat(byHash).as("an indexed route is in memory").isSameAs(byUrl);
      }
      if (byHash != null) {
        assertThat(byUrl).isSameAs(byHash);
      }
    }
    assertThat(indexed).isPositive().isLessThanOrEqualTo(50);
  }

  @Test
  void removeDropsTheRouteItsIndexAndItsPendingUse() {
    MutableClock clock = new MutableClock();
    RouteMemoryCache m = new RouteMemoryCache(10, clock);
    Route r = route(1);
    m.put(r);
    assertThat(m.get(r.hash())).isSameAs(r);
    m.remove(r.hash());
    assertThat(m.get(r.hash())).isNull();
    assertThat(m.byNarUrl(r.narUrl())).isNull();
    assertThat(m.drainTouched()).isEmpty();
  }

  @Test
  void aUseInMemoryIsRecordedOncePerRecencyGrain() {
    MutableClock clock = new MutableClock();
    RouteMemoryCache m = new RouteMemoryCache(10, clock);
    Route r = route(1);
    m.put(r); // entering counts as a use: the database's last_used is as recent
    clock.advance(500);
    m.get(r.hash());
    clock.advance(ReadUses.GRANULARITY.toMillis() - 1000);
    m.get(r.hash());
    assertThat(m.drainTouched()).as("within the grain: nothing to write").isEmpty();
    clock.advance(1000);
    m.get(r.hash());
    long recorded = clock.millis();
    clock.advance(500);
    m.get(r.hash());
    assertThat(m.drainTouched()).containsExactly(new RouteBackend.Touch(r.hash(), recorded));
    assertThat(m.drainTouched()).isEmpty();
  }
}

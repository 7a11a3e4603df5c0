package dev.ncro.upstream;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.ncro.config.UpstreamConfig;
import java.net.URI;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.Test;

/** The upstream set as discovery changes it: snapshots, configured upstreams kept, listeners in order. */
class UpstreamRegistryTest {
  private static final List<String> KEYS =
      List.of("lan-cache-1:6NCHdD59X431o0gWypbMrAURkbJ16ZPMQFGspcDShjY=");
  private final Upstream configured =
      new Upstream(new UpstreamConfig(URI.create("https://cache.example"), 10, List.of()), 0.3);
  private final UpstreamRegistry registry =
      new UpstreamRegistry(List.of(configured), Duration.ofMinutes(1));

  private static Upstream discovered(int i) {
    return Upstream.discovered(
        new UpstreamConfig(URI.create("http://192.168.1." + i + ":5000"), 20, KEYS),
        0.3,
        "cache " + i);
  }

  @Test
  void aHeldSnapshotNeverChangesUnderItsReader() {
    List<Upstream> before = registry.all();
    Upstream lan = discovered(7);
    assertThat(registry.addDiscovered(lan)).isTrue();
    assertThat(before).containsExactly(configured);
    assertThat(registry.all()).containsExactly(configured, lan);
    assertThat(registry.byUrl("http://192.168.1.7:5000/")).contains(lan);
    assertThatThrownBy(() -> registry.all().add(lan))
        .isInstanceOf(UnsupportedOperationException.class);
  }

  @Test
  void onlyDiscoveredUpstreamsAreAddedOrRemoved() {
    assertThatThrownBy(() -> registry.addDiscovered(configured))
        .isInstanceOf(IllegalArgumentException.class);
    Upstream sameUrl =
        Upstream.discovered(new UpstreamConfig(configured.url(), 20, KEYS), 0.3, "impostor");
    assertThat(registry.addDiscovered(sameUrl)).isFalse();
    assertThat(registry.removeDiscovered(configured.name(), "test")).isEmpty();
    assertThat(registry.all()).containsExactly(configured);
    Upstream lan = discovered(7);
    registry.addDiscovered(lan);
    assertThat(registry.addDiscovered(discovered(7))).isFalse(); // one upstream per URL
    assertThat(registry.removeDiscovered(lan.name(), "test")).contains(lan);
    assertThat(registry.all()).containsExactly(configured);
  }

  @Test
  void concurrentChangesLeaveOneConsistentSetAndListenersSeeThemInOrder() throws Exception {
    List<String> events = new ArrayList<>(); // written inside the registry's monitor only
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
    int writers = 4;
    int rounds = 200;
    AtomicBoolean done = new AtomicBoolean();
    AtomicReference<String> readerSaw = new AtomicReference<>();
    Thread reader = Thread.ofPlatform().start(() -> {
      while (!done.get()) {
        List<Upstream> snap = registry.all();
        if (snap.isEmpty()
            || snap.get(0) != configured
            || snap.stream().distinct().count() != snap.size()) {
          readerSaw.set(snap.toString());
        }
        Thread.yield(); // two cores shared with the writers
      }
    });
    CountDownLatch go = new CountDownLatch(1);
    List<Thread> threads = new ArrayList<>();
    for (int w = 0; w < writers; w++) {
      int mine = w;
      threads.add(Thread.ofPlatform().start(() -> {
        try {
          go.await();
        } catch (InterruptedException e) {
          return;
        }
        for (int r = 0; r < rounds; r++) {
          Upstream u = discovered(mine);
          registry.addDiscovered(u);
          registry.removeDiscovered(u.name(), "test");
        }
      }));
    }
    go.countDown();
    for (Thread t : threads) {
      t.join();
    }
    done.set(true);
    reader.join();
    assertThat(readerSaw.get())
        .as("a snapshot without the configured upstream first, or with a duplicate")
        .isNull();
    assertThat(registry.all()).containsExactly(configured);
    synchronized (registry) {
      assertThat(events).hasSize(writers * rounds * 2);
      for (int w = 0; w < writers; w++) {
        String name = discovered(w).name();
        List<String> mine = events.stream().filter(e -> e.endsWith(name)).toList();
        for (int i = 0; i < mine.size(); i++) {
          assertThat(mine.get(i)).startsWith(i % 2 == 0 ? "+" : "-");
        }
      }
    }
  }
}

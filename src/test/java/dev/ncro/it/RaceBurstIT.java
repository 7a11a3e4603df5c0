package dev.ncro.it;

import static org.assertj.core.api.Assertions.assertThat;

import dev.ncro.support.Closer;
import dev.ncro.support.DelayRelay;
import dev.ncro.support.NcroHarness;
import dev.ncro.support.Nginx;
import dev.ncro.support.TestKey;
import dev.ncro.support.TestNarinfo;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * Issue 15 goal 3: a route chosen during a burst names the fastest holder, as one chosen alone
 * does. Two caches hold every path, one 10 ms away and one 150 ms away (delay relays in front of
 * one nginx); 25 misses at once, twice (first on new upstream connections, then on pooled ones):
 * every route must name the near cache. Nothing here depends on timing beyond the relays' 140 ms
 * gap.
 */
class RaceBurstIT {
  private static final int IN_FLIGHT = 25;
  private static final long FAR_MS = 150;

  @TempDir
  Path dir;

  @RegisterExtension
  final Closer open = new Closer();

  @Test
  void everyRouteChosenDuringABurstNamesTheNearestHolder() throws Exception {
    TestKey key = new TestKey("test-1");
    // nginx, not a TestUpstream: a cache in its own process, whose answers do not wait for the
    // carrier threads ncro's virtual threads (SQLite writes) keep busy during the burst.
    Path files = Files.createDirectories(dir.resolve("cache"));
    List<String> hashes = new ArrayList<>();
    for (int i = 0; i < 2 * IN_FLIGHT; i++) {
      String h = TestNarinfo.hash(500 + i);
      hashes.add(h);
      Files.write(
          files.resolve(h + ".narinfo"), TestNarinfo.make(h, "nar/" + h + ".nar.xz", 1000, key));
    }
    Files.writeString(
        files.resolve("nix-cache-info"), "StoreDir: /nix/store\nWantMassQuery: 1\nPriority: 40\n");
    Nginx cache = open.keep(Nginx.serve(files));
    DelayRelay near = open.keep(DelayRelay.start(cache.address(), Duration.ofMillis(10)));
    DelayRelay far = open.keep(DelayRelay.start(cache.address(), Duration.ofMillis(FAR_MS)));
    // The far cache first in the configuration, so configuration order cannot explain a right
    // answer.
    NcroHarness n = open.keep(NcroHarness.start(NcroHarness.config(
        dir.resolve("routes.db"),
        NcroHarness.upstreams(
            List.of(far.uri(), near.uri()), List.of(key.publicKey(), key.publicKey())))));

    ExecutorService clients = Executors.newVirtualThreadPerTaskExecutor();
    open.keep(clients::shutdownNow);
    for (int burst = 0; burst < 2; burst++) {
      List<CompletableFuture<HttpResponse<byte[]>>> answers = new ArrayList<>();
      for (String h : hashes.subList(burst * IN_FLIGHT, (burst + 1) * IN_FLIGHT)) {
        answers.add(CompletableFuture.supplyAsync(
            () -> {
              try {
                return n.get("/" + h + ".narinfo");
              } catch (Exception e) {
                throw new IllegalStateException(e);
              }
            },
            clients));
      }
      for (CompletableFuture<HttpResponse<byte[]>> a : answers) {
        HttpResponse<byte[]> r = a.get();
        assertThat(r.statusCode()).isEqualTo(200);
        assertThat(r.headers().firstValue("X-Ncro-Upstream"))
            .as("burst %d", burst)
            .hasValue(near.uri().getAuthority());
      }
    }
    for (String h : hashes) {
      assertThat(n.ncro().store().get(h).orElseThrow().upstream())
          .isEqualTo(near.uri().toString());
    }
  }
}

package dev.ncro.it;

import static org.assertj.core.api.Assertions.assertThat;

import dev.ncro.support.Await;
import dev.ncro.support.Closer;
import dev.ncro.support.Compress;
import dev.ncro.support.NcroHarness;
import dev.ncro.support.TestKey;
import dev.ncro.support.TestNarinfo;
import dev.ncro.support.TestUpstream;
import dev.ncro.upstream.Upstream;
import java.net.URI;
import java.net.http.HttpResponse;
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

/** narinfo routing against real loopback upstreams: race, cache hit, negative cache, singleflight. */
class NarinfoRoutingIT {
  @TempDir
  Path dir;

  @RegisterExtension
  final Closer open = new Closer();

  private TestUpstream upstream() throws Exception {
    return open.keep(TestUpstream.start());
  }

  private NcroHarness ncro(List<URI> upstreams, List<String> keys) throws Exception {
    return open.keep(NcroHarness.start(
        NcroHarness.config(dir.resolve("routes.db"), NcroHarness.upstreams(upstreams, keys))));
  }

  @Test
  void fastestHolderWinsAndTheRouteIsReusedWithoutUpstreamTraffic() throws Exception {
    TestKey key = new TestKey("test-1");
    TestUpstream slow = upstream();
    TestUpstream fast = upstream();
    TestUpstream absent = upstream();
    String h = TestNarinfo.hash(1);
    byte[] body = TestNarinfo.make(h, "nar/" + h + ".nar.xz", 1000, key);
    slow.putNarinfo(h, body);
    fast.putNarinfo(h, body);
    slow.setLatency(Duration.ofMillis(400));
    // Not instant either: a request still waiting for its slot when the race is won is never sent
    // (Race), and on a loaded machine an instant answer could beat the dispatch of the others.
    fast.setLatency(Duration.ofMillis(100));
    absent.setLatency(Duration.ofMillis(100));
    NcroHarness n = ncro(
        List.of(slow.uri(), fast.uri(), absent.uri()),
        List.of(key.publicKey(), key.publicKey(), key.publicKey()));

    HttpResponse<byte[]> r = n.get("/" + h + ".narinfo");
    assertThat(r.statusCode()).isEqualTo(200);
    assertThat(r.body()).isEqualTo(body);
    assertThat(r.headers().firstValue("X-Ncro-Route")).hasValue("race");
    assertThat(r.headers().firstValue("X-Ncro-Upstream")).hasValue(fast.uri().getAuthority());
    // Every upstream was asked; the answer did not wait for all of them.
    Await.until(
        "every upstream was asked",
        () -> absent.requestCount("/" + h + ".narinfo") == 1
            && slow.requestCount("/" + h + ".narinfo") == 1);

    int before = fast.requestCount("/" + h + ".narinfo") + slow.requestCount("/" + h + ".narinfo");
    HttpResponse<byte[]> again = n.get("/" + h + ".narinfo");
    assertThat(again.statusCode()).isEqualTo(200);
    assertThat(again.body()).isEqualTo(body);
    assertThat(again.headers().firstValue("X-Ncro-Route")).hasValue("cache-hit");
    assertThat(fast.requestCount("/" + h + ".narinfo") + slow.requestCount("/" + h + ".narinfo"))
        .isEqualTo(before);
    assertThat(n.ncro().store().get(h).orElseThrow().upstream())
        .isEqualTo(fast.uri().toString());
  }

  @Test
  void badSignatureLosesToAValidSlowerAnswer() throws Exception {
    TestKey good = new TestKey("good-1");
    TestKey forger = new TestKey("good-1"); // same name, different key
    TestUpstream liar = upstream();
    TestUpstream honest = upstream();
    String h = TestNarinfo.hash(2);
    liar.putNarinfo(h, TestNarinfo.make(h, "nar/evil.nar.xz", 1000, forger));
    byte[] body = TestNarinfo.make(h, "nar/good.nar.xz", 1000, good);
    honest.putNarinfo(h, body);
    honest.setLatency(Duration.ofMillis(150));
    NcroHarness n =
        ncro(List.of(liar.uri(), honest.uri()), List.of(good.publicKey(), good.publicKey()));

    HttpResponse<byte[]> r = n.get("/" + h + ".narinfo");
    assertThat(r.statusCode()).isEqualTo(200);
    assertThat(r.body()).isEqualTo(body);
  }

  @Test
  void absentEverywhereIsNegativelyCached() throws Exception {
    TestUpstream a = upstream();
    TestUpstream b = upstream();
    NcroHarness n = ncro(List.of(a.uri(), b.uri()), null);
    String h = TestNarinfo.hash(3);

    assertThat(n.get("/" + h + ".narinfo").statusCode()).isEqualTo(404);
    HttpResponse<byte[]> second = n.get("/" + h + ".narinfo");
    assertThat(second.statusCode()).isEqualTo(404);
    assertThat(second.headers().firstValue("X-Ncro-Route")).hasValue("negative");
    assertThat(a.requestCount("/" + h + ".narinfo")).isEqualTo(1);
    assertThat(b.requestCount("/" + h + ".narinfo")).isEqualTo(1);
  }

  @Test
  void noNegativeEntryWhenAnUpstreamIsDown() throws Exception {
    TestUpstream a = upstream();
    TestUpstream broken = upstream();
    broken.status5xxForAll(500);
    NcroHarness n = ncro(List.of(a.uri(), broken.uri()), null);
    String h = TestNarinfo.hash(4);

    assertThat(n.get("/" + h + ".narinfo").statusCode()).isEqualTo(503);
    assertThat(n.get("/" + h + ".narinfo").statusCode()).isEqualTo(503);
    assertThat(a.requestCount("/" + h + ".narinfo")).isEqualTo(2);
  }

  @Test
  void concurrentMissesShareOneRace() throws Exception {
    TestUpstream a = upstream();
    TestUpstream b = upstream();
    String h = TestNarinfo.hash(5);
    byte[] body = TestNarinfo.make(h, "nar/x.nar.xz", 10, null);
    a.putNarinfo(h, body);
    a.setLatency(Duration.ofMillis(300));
    b.setLatency(Duration.ofMillis(300));
    NcroHarness n = ncro(List.of(a.uri(), b.uri()), null);

    ExecutorService pool = Executors.newVirtualThreadPerTaskExecutor();
    List<CompletableFuture<Integer>> all = new ArrayList<>();
    for (int i = 0; i < 20; i++) {
      all.add(CompletableFuture.supplyAsync(
          () -> {
            try {
              return n.get("/" + h + ".narinfo").statusCode();
            } catch (Exception e) {
              throw new RuntimeException(e);
            }
          },
          pool));
    }
    for (CompletableFuture<Integer> f : all) {
      assertThat(f.get()).isEqualTo(200);
    }
    pool.close();
    assertThat(a.requestCount("/" + h + ".narinfo")).isEqualTo(1);
    assertThat(b.requestCount("/" + h + ".narinfo")).isEqualTo(1);
  }

  @Test
  void routesAndWarmNarinfoSurviveARestart() throws Exception {
    TestUpstream a = upstream();
    String h = TestNarinfo.hash(6);
    byte[] body = TestNarinfo.make(h, "nar/y.nar.xz", 10, null);
    a.putNarinfo(h, body);
    NcroHarness first = NcroHarness.start(NcroHarness.config(
        dir.resolve("routes.db"), NcroHarness.upstreams(List.of(a.uri()), null)));
    assertThat(first.get("/" + h + ".narinfo").statusCode()).isEqualTo(200);
    awaitStored(first, h);
    first.close();

    NcroHarness second = ncro(List.of(a.uri()), null);
    HttpResponse<byte[]> r = second.get("/" + h + ".narinfo");
    assertThat(r.statusCode()).isEqualTo(200);
    assertThat(r.body()).isEqualTo(body);
    assertThat(r.headers().firstValue("X-Ncro-Route")).hasValue("cache-hit");
    assertThat(a.requestCount("/" + h + ".narinfo")).isEqualTo(1);
  }

  @Test
  void losersKeepTheirConnectionsAndStillFeedTheLatencyEma() throws Exception {
    TestUpstream fast = upstream();
    TestUpstream slow = upstream();
    slow.setLatency(Duration.ofMillis(200));
    NcroHarness n = ncro(List.of(fast.uri(), slow.uri()), null);
    Upstream slowUpstream = n.ncro().registry().all().get(1);
    Await.until(
        "the start-up probe's answer is in and the warm connections are open",
        () -> !Double.isNaN(slowUpstream.stats().emaMillis())
            && slowUpstream.stats().idleConnections() == slowUpstream.warmConnections()
            && slow.openConnections() == slowUpstream.warmConnections());
    int connectionsBefore = slow.connectionCount();
    for (int i = 0; i < 3; i++) {
      String h = TestNarinfo.hash(20 + i);
      byte[] body = TestNarinfo.make(h, "nar/" + h + ".nar", 10, null);
      fast.putNarinfo(h, body);
      slow.putNarinfo(h, body);
      double emaBefore = slowUpstream.stats().emaMillis();
      HttpResponse<byte[]> r = n.get("/" + h + ".narinfo");
      assertThat(r.headers().firstValue("X-Ncro-Upstream")).hasValue(fast.uri().getAuthority());
      // The loser's answer is read (its connection back in the pool) before the next race: the
      // race feeds it to the EMA only after the exchange released the connection.
      Await.until(
          "the loser's answer is in the EMA", () -> slowUpstream.stats().emaMillis() != emaBefore);
    }
    assertThat(slow.requestCount("/" + TestNarinfo.hash(22) + ".narinfo")).isEqualTo(1);
    assertThat(slow.connectionCount() - connectionsBefore)
        .as("new connections to the loser")
        .isLessThanOrEqualTo(1);
    assertThat(n.ncro().registry().all().get(1).stats().emaMillis()).isGreaterThan(150.0);
  }

  /**
   * Waits until the route is written to the database, not only remembered in memory (which
   * happens first): an invalidation that overtook the write would otherwise be undone by it.
   */
  static void awaitStored(NcroHarness n, String hash) throws InterruptedException {
    Await.until(
        "route " + hash + " written to the database", () -> n.ncro().store().count() > 0);
    assertThat(n.ncro().store().get(hash)).isPresent();
  }

  @Test
  void aNarinfoStoredCompressedIsDecodedCheckedAndServedPlain() throws Exception {
    TestKey key = new TestKey("test-1");
    TestUpstream a = upstream();
    String hx = TestNarinfo.hash(40);
    String hg = TestNarinfo.hash(41);
    byte[] px = TestNarinfo.make(hx, "nar/" + hx + ".nar.xz", 1000, key);
    byte[] pg = TestNarinfo.make(hg, "nar/" + hg + ".nar.xz", 1000, key);
    a.putEncodedNarinfo(hx, Compress.xz(px), "xz"); // nix copy --to 's3://…?narinfo-compression=xz'
    a.putEncodedNarinfo(hg, Compress.gzip(pg), "gzip");
    NcroHarness n = ncro(List.of(a.uri()), List.of(key.publicKey()));

    for (String[] c : new String[][] {{hx, new String(px)}, {hg, new String(pg)}}) {
      HttpResponse<byte[]> r = n.get("/" + c[0] + ".narinfo");
      assertThat(r.statusCode()).as(c[0]).isEqualTo(200);
      assertThat(r.headers().firstValue("Content-Encoding")).as(c[0]).isEmpty();
      assertThat(new String(r.body()))
          .as("the signature checked on the decoded text")
          .isEqualTo(c[1]);
      assertThat(n.ncro().store().get(c[0]))
          .as("a route, served from the store next")
          .isPresent();
    }
  }

  @Test
  void aNarinfoInAnEncodingNcroCannotDecodeLosesToAPlainOne() throws Exception {
    TestUpstream zstd = upstream();
    TestUpstream plain = upstream();
    String h = TestNarinfo.hash(42);
    byte[] body = TestNarinfo.make(h, "nar/" + h + ".nar.xz", 1000, null);
    zstd.putEncodedNarinfo(h, new byte[] {0x28, (byte) 0xb5, 0x2f, (byte) 0xfd, 0}, "zstd");
    plain.putNarinfo(h, body);
    plain.setLatency(Duration.ofMillis(150)); // the zstd answer arrives first and is refused
    NcroHarness n = ncro(List.of(zstd.uri(), plain.uri()), null);

    HttpResponse<byte[]> r = n.get("/" + h + ".narinfo");
    assertThat(r.statusCode()).isEqualTo(200);
    assertThat(r.body()).isEqualTo(body);
    assertThat(r.headers().firstValue("X-Ncro-Upstream")).hasValue(plain.uri().getAuthority());
    assertThat(n.metric(
            "ncro_upstream_errors_total{kind=\"bad_narinfo\",upstream=\"" + zstd.uri() + "\"}"))
        .isEqualTo(1);
  }

  @Test
  void aNarinfoForAnotherStoreDirectoryLosesToOneForNixStore() throws Exception {
    TestUpstream gnu = upstream();
    TestUpstream nix = upstream();
    String h = TestNarinfo.hash(43);
    byte[] body = TestNarinfo.make(h, "nar/" + h + ".nar.xz", 1000, null);
    gnu.putNarinfo(h, new String(body).replace("/nix/store/", "/gnu/store/").getBytes());
    nix.putNarinfo(h, body);
    nix.setLatency(Duration.ofMillis(150)); // the other store's answer arrives first
    NcroHarness n = ncro(List.of(gnu.uri(), nix.uri()), null);

    HttpResponse<byte[]> r = n.get("/" + h + ".narinfo");
    assertThat(r.statusCode()).isEqualTo(200);
    assertThat(r.body()).isEqualTo(body);
    assertThat(r.headers().firstValue("X-Ncro-Upstream")).hasValue(nix.uri().getAuthority());
  }
}

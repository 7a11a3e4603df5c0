package dev.ncro.e2e;

import static org.assertj.core.api.Assertions.assertThat;

import dev.ncro.route.Route;
import dev.ncro.support.Await;
import dev.ncro.support.Closer;
import dev.ncro.support.Compress;
import dev.ncro.support.NcroHarness;
import dev.ncro.support.NixFixture;
import dev.ncro.support.TestUpstream;
import java.io.IOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.URI;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.stream.Stream;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * The real Nix client (nix-bin 2.8) substituting a real closure through ncro, in front of three
 * nginx binary caches at different distances. See docs/nix-client-behaviour.md for the Nix
 * behaviour these tests compare against.
 */
class NixSubstitutionE2E {
  // Far apart on purpose: on 2 busy cores an answer was seen arriving up to ~130 ms late, and a new
  // connection costs two round trips (so MIDDLE on a new connection must still beat FAR on an old
  // one).
  private static final Duration NEAR = Duration.ofMillis(5);
  private static final Duration MIDDLE = Duration.ofMillis(100);
  private static final Duration FAR = Duration.ofMillis(300);

  private static NixFixture fx;

  @TempDir
  Path dir;

  @RegisterExtension
  final Closer open = new Closer();

  private NcroHarness ncro;

  @BeforeAll
  static void fixture() {
    fx = NixFixture.get();
  }

  private FarCache serving(String cacheName, Duration rtt)
      throws IOException, InterruptedException {
    return open.keep(FarCache.serving(cacheName, fx.cache(cacheName).dir(), rtt));
  }

  private FarCache failing(int status, Duration rtt) throws IOException, InterruptedException {
    return open.keep(FarCache.failing("failing-" + status, status, rtt));
  }

  private FarCache failingLookups(int status, Duration rtt)
      throws IOException, InterruptedException {
    return open.keep(FarCache.failingLookups("failing-lookups-" + status, status, rtt));
  }

  /** ncro in front of {@code caches}, in this order, each with the key of {@code keys}. */
  private URI ncro(List<FarCache> caches, List<String> keys) throws Exception {
    return ncroAt(caches.stream().map(FarCache::uri).toList(), keys);
  }

  private URI ncroAt(List<URI> upstreams, List<String> keys) throws Exception {
    ncro = open.keep(NcroHarness.start(
        NcroHarness.config(dir.resolve("routes.db"), NcroHarness.upstreams(upstreams, keys))));
    return ncro.uri("");
  }

  private NixClient client(String name) throws IOException {
    return new NixClient(dir.resolve(name));
  }

  @Test
  void substitutesTheClosureAndRoutesEachPathToTheNearestCacheHoldingIt() throws Exception {
    FarCache complete = serving("complete", FAR);
    FarCache partialA = serving("partial-a", NEAR);
    FarCache partialB = serving("partial-b", MIDDLE);
    Map<FarCache, Duration> rtt = Map.of(complete, FAR, partialA, NEAR, partialB, MIDDLE);
    List<FarCache> all = List.of(complete, partialA, partialB);
    URI proxy = ncro(all, all.stream().map(c -> fx.cache(c.name()).publicKey()).toList());

    NixClient nix = client("client");
    nix.assertSubstitutes(List.of(proxy), fx);

    Map<String, Set<String>> expectedNars = new HashMap<>();
    List<String> misrouted = new ArrayList<>();
    for (String path : fx.paths()) {
      FarCache nearest = all.stream()
          .filter(c -> fx.cache(c.name()).holds(path))
          .min(Comparator.comparing(rtt::get))
          .orElseThrow();
      Route route = ncro.ncro()
          .store()
          .get(NixFixture.hashOf(path))
          .orElseThrow(() -> new AssertionError("no route stored for " + path));
      if (!route.upstream().equals(nearest.uri().toString())) {
        String winner = all.stream()
            .filter(c -> c.uri().toString().equals(route.upstream()))
            .map(FarCache::name)
            .findFirst()
            .orElse(route.upstream());
        misrouted.add(
            path + " held by " + holders(path) + ": routed to " + winner + " (answered in "
                + Math.round(route.latencyMs()) + " ms), nearest is " + nearest.name());
        continue;
      }
      byte[] original = Files.readAllBytes(
          fx.cache(nearest.name()).dir().resolve(NixFixture.hashOf(path) + ".narinfo"));
      assertThat(new String(route.narinfo()))
          .as("narinfo of %s, byte-exact", path)
          .isEqualTo(new String(original));
      expectedNars.computeIfAbsent(nearest.name(), k -> new TreeSet<>()).add("/" + route.narUrl());
    }
    assertThat(misrouted)
        .as("paths not routed to the nearest cache holding them (RTT: %s)", rttByName(rtt))
        .isEmpty();
    for (FarCache c : all) {
      assertThat(narsServed(c))
          .as("NARs fetched from %s", c)
          .isEqualTo(expectedNars.getOrDefault(c.name(), Set.of()));
    }
  }

  @Test
  void aCacheWhoseNarinfosAreStoredXzCompressedServesTheClosure() throws Exception {
    // As `nix copy --to 's3://…?narinfo-compression=xz'` leaves a bucket: every narinfo compressed,
    // answered with Content-Encoding: xz (Nix decodes by that header, and so must ncro).
    Path copy = dir.resolve("complete-xz");
    Path source = fx.cache("complete").dir();
    try (Stream<Path> files = Files.walk(source)) {
      for (Path f : files.filter(Files::isRegularFile).toList()) {
        Path to = copy.resolve(source.relativize(f).toString());
        Files.createDirectories(to.getParent());
        byte[] bytes = Files.readAllBytes(f);
        Files.write(
            to, f.getFileName().toString().endsWith(".narinfo") ? Compress.xz(bytes) : bytes);
      }
    }
    FarCache xzCache = open.keep(FarCache.serving(
        "complete-xz", copy, "location ~ \\.narinfo$ { add_header Content-Encoding xz; }", NEAR));
    String h = NixFixture.hashOf(fx.root());
    HttpResponse<byte[]> direct = java.net.http.HttpClient.newHttpClient()
        .send(
            java.net.http.HttpRequest.newBuilder(xzCache.uri().resolve("/" + h + ".narinfo"))
                .build(),
            HttpResponse.BodyHandlers.ofByteArray());
    assertThat(direct.headers().firstValue("Content-Encoding")).hasValue("xz");
    URI proxy = ncro(List.of(xzCache), List.of(fx.cache("complete").publicKey()));

    NixClient nix = client("client");
    nix.assertSubstitutes(List.of(proxy), fx);
    assertThat(new String(ncro.ncro().store().get(h).orElseThrow().narinfo()))
        .as("the decoded narinfo is stored")
        .isEqualTo(Files.readString(source.resolve(h + ".narinfo")));
  }

  @Test
  void aFileCacheDirectoryCompletesTheClosureBesideAnHttpCache() throws Exception {
    // As `nix copy --to file:///mnt/cache` leaves a directory (here the fixture's own): a
    // file:// substituter, which ncro serves to itself over loopback.
    FarCache partialA = serving("partial-a", NEAR);
    URI local = URI.create("file://" + fx.cache("complete").dir().toAbsolutePath());
    URI proxy = ncroAt(
        List.of(partialA.uri(), local),
        List.of(fx.cache("partial-a").publicKey(), fx.cache("complete").publicKey()));

    NixClient nix = client("client");
    nix.assertSubstitutes(List.of(proxy), fx);
    List<String> onlyInDirectory =
        fx.paths().stream().filter(p -> !fx.cache("partial-a").holds(p)).toList();
    assertThat(onlyInDirectory).isNotEmpty();
    for (String p : onlyInDirectory) {
      assertThat(ncro.ncro().store().get(NixFixture.hashOf(p)).orElseThrow().upstream())
          .as("route of %s", p)
          .isEqualTo(local.toString());
    }
  }

  @Test
  void aCacheAnswering500DoesNotStopSubstitutionFromAnotherCache() throws Exception {
    FarCache broken = failing(500, NEAR);
    FarCache complete = serving("complete", MIDDLE);
    URI proxy = ncro(
        List.of(broken, complete),
        List.of(fx.cache("partial-a").publicKey(), fx.cache("complete").publicKey()));

    NixClient nix = client("client");
    NixFixture.Result r = nix.realise(List.of(proxy), fx.trustedPublicKeys(), fx.root());

    assertThat(r.exitCode())
        .as("nix-store --realise through ncro:\n%s", r.output())
        .isZero();
    NixFixture.Result verified = nix.verify(fx.paths());
    assertThat(verified.exitCode())
        .as("nix-store --verify-path:\n%s", verified.output())
        .isZero();
    for (String path : fx.paths()) {
      assertThat(ncro.ncro().store().get(NixFixture.hashOf(path)).map(Route::upstream))
          .as("route of %s", path)
          .hasValue(complete.uri().toString());
    }
  }

  @Test
  void aBlackHoleAndARefusingCacheDoNotStopTheClosure() throws Exception {
    // Accepts connections and never answers, once ncro has seen it healthy (its start-up probe).
    TestUpstream hole = open.keep(TestUpstream.start());
    FarCache complete = serving("complete", MIDDLE);
    URI refusing;
    try (ServerSocket s = new ServerSocket(0)) {
      refusing =
          URI.create("http://127.0.0.1:" + s.getLocalPort()); // closed: connections are refused
    }
    URI proxy = ncroAt(
        List.of(hole.uri(), refusing, complete.uri()),
        List.of(
            fx.cache("complete").publicKey(),
            fx.cache("complete").publicKey(),
            fx.cache("complete").publicKey()));
    Await.until(
        "start-up probe of the future black hole", () -> hole.requestCount("/nix-cache-info") > 0);
    hole.hangAll();

    NixClient nix = client("client");
    NixFixture.Result r = nix.realise(List.of(proxy), fx.trustedPublicKeys(), fx.root());

    assertThat(r.exitCode())
        .as("nix-store --realise through ncro:\n%s", r.output())
        .isZero();
    assertThat(nix.verify(fx.paths()).exitCode()).isZero();
    assertThat(ncro.ncro().registry().all().get(0).stats().suspended())
        .as("the black hole is suspended")
        .isTrue();
    // Races answered from the complete cache without waiting for the hole; once its first request
    // timed out it is suspended, and new lookups (absent paths included) no longer go to it.
    int asked = hole.requests().size();
    NixFixture.Result absent =
        client("client-2").realise(List.of(proxy), fx.trustedPublicKeys(), fx.absentPath());
    assertThat(absent.output())
        .as("unknown while the hole is silent: 503, never a cached 404")
        .contains("HTTP error 503");
    assertThat(hole.requests().stream()
            .skip(asked)
            .filter(q -> q.path().endsWith(".narinfo"))
            .count())
        .isZero();
  }

  @Test
  void aPathOnNoCacheWhileOneCacheAnswers500FailsAsWithTheCachesListedDirectly() throws Exception {
    FarCache complete = serving("complete", FAR);
    FarCache partialA = serving("partial-a", NEAR);
    FarCache broken = failingLookups(500, MIDDLE);
    List<FarCache> caches = List.of(complete, partialA, broken);
    String absent = fx.absentPath();
    String hash = NixFixture.hashOf(absent);

    // Listed directly, Nix fails on the broken cache's 500 (after its download-attempts), and
    // records no miss for it. (Its nix-cache-info answers, as for a cache Nix has used before.)
    NixClient direct = client("direct");
    NixFixture.Result d =
        direct.realise(caches.stream().map(FarCache::uri).toList(), fx.trustedPublicKeys(), absent);
    assertThat(d.exitCode()).as("direct:\n%s", d.output()).isNotZero();
    assertThat(d.output()).contains("HTTP error 500").doesNotContain("don't know how to build");
    assertThat(direct.cachedNarinfo(broken.uri(), hash)).isEmpty();

    // Through ncro: the same failure (ncro's 503), and neither ncro nor Nix remembers a miss.
    URI proxy = ncro(
        caches,
        List.of(
            fx.cache("complete").publicKey(),
            fx.cache("partial-a").publicKey(),
            fx.cache("partial-b").publicKey()));
    NixClient viaNcro = client("via-ncro");
    NixFixture.Result n = viaNcro.realise(List.of(proxy), fx.trustedPublicKeys(), absent);
    assertThat(n.exitCode()).as("through ncro:\n%s", n.output()).isNotZero();
    assertThat(n.output()).contains("HTTP error 503").doesNotContain("don't know how to build");
    assertThat(viaNcro.cachedNarinfo(proxy, hash)).isEmpty();
    HttpResponse<byte[]> again = ncro.get("/" + hash + ".narinfo");
    assertThat(again.statusCode())
        .as("ncro's answer once the broken upstream failed repeatedly")
        .isEqualTo(503);
  }

  @Test
  void aPathOnNoCacheWhileOneCacheRefusesConnectionsIsUnavailableNotMissing() throws Exception {
    // Listed directly, a cache refusing connections on Nix's first contact is skipped for the run
    // (docs/nix-client-behaviour.md); once Nix knows it, a refused narinfo fails like a 5xx.
    // Through
    // ncro the miss must never be a 404: Nix would remember it for an hour.
    FarCache partialA = serving("partial-a", NEAR);
    URI refusing;
    try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
      refusing = URI.create("http://127.0.0.1:" + s.getLocalPort());
    }
    String absent = fx.absentPath();
    String hash = NixFixture.hashOf(absent);
    URI proxy = ncroAt(
        List.of(partialA.uri(), refusing),
        List.of(fx.cache("partial-a").publicKey(), fx.cache("complete").publicKey()));

    NixClient viaNcro = client("via-ncro");
    NixFixture.Result n = viaNcro.realise(List.of(proxy), fx.trustedPublicKeys(), absent);
    assertThat(n.exitCode()).as("through ncro:\n%s", n.output()).isNotZero();
    assertThat(n.output()).contains("HTTP error 503").doesNotContain("don't know how to build");
    assertThat(viaNcro.cachedNarinfo(proxy, hash)).isEmpty();
    assertThat(ncro.get("/" + hash + ".narinfo").statusCode()).isEqualTo(503);

    // A path the healthy cache holds (a leaf: no references to fetch elsewhere) still arrives.
    String held = fx.paths().stream()
        .filter(p -> p.contains("-l0-") && fx.cache("partial-a").holds(p))
        .findFirst()
        .orElseThrow();
    NixFixture.Result ok = viaNcro.realise(List.of(proxy), fx.trustedPublicKeys(), held);
    assertThat(ok.exitCode()).as("through ncro:\n%s", ok.output()).isZero();
  }

  @Test
  void aPathOnNoCacheWithEveryCacheHealthyIsMissingAsWithTheCachesListedDirectly()
      throws Exception {
    FarCache complete = serving("complete", FAR);
    FarCache partialA = serving("partial-a", NEAR);
    List<FarCache> caches = List.of(complete, partialA);
    String absent = fx.absentPath();
    String hash = NixFixture.hashOf(absent);

    NixClient direct = client("direct");
    NixFixture.Result d =
        direct.realise(caches.stream().map(FarCache::uri).toList(), fx.trustedPublicKeys(), absent);
    assertThat(d.exitCode()).as("direct:\n%s", d.output()).isNotZero();
    assertThat(d.output()).contains("don't know how to build");
    assertThat(direct.cachedNarinfo(complete.uri(), hash)).hasValue(0);

    URI proxy = ncro(
        caches, List.of(fx.cache("complete").publicKey(), fx.cache("partial-a").publicKey()));
    NixClient viaNcro = client("via-ncro");
    NixFixture.Result n = viaNcro.realise(List.of(proxy), fx.trustedPublicKeys(), absent);
    assertThat(n.exitCode()).as("through ncro:\n%s", n.output()).isNotZero();
    assertThat(n.output()).contains("don't know how to build").doesNotContain("HTTP error");
    assertThat(viaNcro.cachedNarinfo(proxy, hash)).hasValue(0);
  }

  @Test
  void aNarCutShortByTheRoutedCacheStillArrivesIntact() throws Exception {
    // The cutter holds the complete cache's very files and answers at once, so it wins every race.
    // It cuts every answer for the largest NAR (2 MiB) after 128 KiB, Range answers included, so
    // Nix's own resumption (5 tries) cannot finish it there: ncro must resume from nginx, which
    // holds the same file (same FileHash), further away (DESIGN 3.5).
    NixFixture.Cache source = fx.cache("complete");
    TestUpstream cutter = open.keep(TestUpstream.start());
    String cutNar = null;
    long cutSize = 0;
    try (Stream<Path> files = Files.walk(source.dir())) {
      for (Path f : files.filter(Files::isRegularFile).toList()) {
        String uriPath = "/" + source.dir().relativize(f);
        byte[] bytes = Files.readAllBytes(f);
        cutter.put(uriPath, TestUpstream.Response.ok(bytes));
        if (uriPath.startsWith("/nar/") && bytes.length > cutSize) {
          cutNar = uriPath;
          cutSize = bytes.length;
        }
      }
    }
    cutter.put(
        cutNar,
        TestUpstream.Response.ok(Files.readAllBytes(source.dir().resolve(cutNar.substring(1))))
            .truncateAfter(128 << 10));
    FarCache complete = serving("complete", MIDDLE);
    URI proxy = ncroAt(
        List.of(cutter.uri(), complete.uri()), List.of(source.publicKey(), source.publicKey()));

    NixClient nix = client("client");
    NixFixture.Result r = nix.realise(List.of(proxy), fx.trustedPublicKeys(), fx.root());

    assertThat(r.exitCode())
        .as("nix-store --realise through ncro:\n%s", r.output())
        .isZero();
    NixFixture.Result verified = nix.verify(fx.paths());
    assertThat(verified.exitCode())
        .as("nix-store --verify-path:\n%s", verified.output())
        .isZero();
    assertThat(cutter.requestCount(cutNar))
        .as("the cut NAR was asked from the cutter")
        .isPositive();
    String nar = cutNar;
    assertThat(complete.nginx().accessLog())
        .as(
            "the rest of %s came from the other holder; cutter saw %s",
            nar, cutter.requests().stream().filter(q -> q.path().equals(nar)).toList())
        .anyMatch(l -> l.startsWith("GET " + nar + " 20"));
  }

  private static Map<String, Long> rttByName(Map<FarCache, Duration> rtt) {
    Map<String, Long> out = new TreeMap<>();
    rtt.forEach((c, d) -> out.put(c.name(), d.toMillis()));
    return out;
  }

  private String holders(String path) {
    return fx.caches().stream()
        .filter(c -> c.holds(path))
        .map(NixFixture.Cache::name)
        .toList()
        .toString();
  }

  /** The NAR URIs nginx answered with 200 (Range requests included). */
  private static Set<String> narsServed(FarCache c) throws IOException {
    Set<String> nars = new TreeSet<>();
    for (String line : c.nginx().accessLog()) {
      String[] f = line.split(" ");
      if (f[1].startsWith("/nar/") && (f[2].equals("200") || f[2].equals("206"))) {
        nars.add(f[1]);
      }
    }
    return nars;
  }
}

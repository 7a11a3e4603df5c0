package dev.ncro.it;

import static org.assertj.core.api.Assertions.assertThat;

import dev.ncro.e2e.FarCache;
import dev.ncro.support.Await;
import dev.ncro.support.Closer;
import dev.ncro.support.NcroHarness;
import dev.ncro.support.TestKey;
import dev.ncro.support.TestNarinfo;
import dev.ncro.support.TestUpstream;
import dev.ncro.upstream.Upstream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.net.URI;
import java.net.URLDecoder;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.zip.GZIPOutputStream;
import org.assertj.core.api.Assertions;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Logs, realisations, listings and debuginfo files through ncro, from real nginx binary caches at
 * three distances: byte-identical answers, the slowest upstream's file found, 404 only when every
 * upstream said absent, 503 when one could not answer, signatures, escaping, routes.
 */
class CacheFileIT {
  static final String DRV = TestNarinfo.hash(101) + "-hello-2.12.drv";
  static final String GZ_DRV = TestNarinfo.hash(104) + "-gzipped-1.drv";
  static final String CA_DRV = TestNarinfo.hash(103) + "-ca-1.drv";
  static final String LS_HASH = TestNarinfo.hash(102);
  static final String BUILD_ID = "0123456789abcdef0123456789abcdef01234567";
  static final String ID =
      "sha256:" + "3c724348a06b40c195b76aa202a455cb0bbbcbedc8f75daa2a46af143671162c" + "!out";
  static final String FORGED_ID =
      "sha256:" + "ff89706d4f63a4f9ee7b2dfdc357771749274b97d9139035065042dd3c809fca" + "!out";
  static final String WRONG_ID =
      "sha256:" + "aa89706d4f63a4f9ee7b2dfdc357771749274b97d9139035065042dd3c809fca" + "!dev";
  static final String GZ_ID =
      "sha256:" + "bb89706d4f63a4f9ee7b2dfdc357771749274b97d9139035065042dd3c809fca" + "!out";
  static final String MISSING = "/log/" + TestNarinfo.hash(199) + "-nobody-has-it.drv";

  /** Every kind, each held only by the farthest cache. */
  static final List<String> FAR_ONLY = List.of(
      "/log/" + DRV,
      "/realisations/" + ID + ".doi",
      "/build-trace-v2/" + CA_DRV + "/out.doi",
      "/" + LS_HASH + ".ls",
      "/debuginfo/" + BUILD_ID);

  @TempDir
  static Path root;

  static FarCache near;
  static FarCache middle;
  static FarCache far;
  static TestKey nearKey = new TestKey("near-1");
  static TestKey farKey = new TestKey("far-1");
  static byte[] gzippedLog;

  @TempDir
  Path dir;

  @RegisterExtension
  final Closer open = new Closer();

  private final HttpClient http =
      HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build();

  @BeforeAll
  static void caches() throws Exception {
    Path n = cacheDir("near");
    Path m = cacheDir("middle");
    Path f = cacheDir("far");
    write(f, "log/" + DRV, "building '/nix/store/" + DRV + "'...\nhello from the build\n");
    write(
        f,
        "realisations/" + ID + ".doi",
        realisation(ID, "8lripx2hgwzaz3v8j8kvczjh337wx0y1-ca-1", farKey));
    write(
        f,
        "build-trace-v2/" + CA_DRV + "/out.doi",
        "{\"outPath\":\"8lripx2hgwzaz3v8j8kvczjh337wx0y1-ca-1\",\"signatures\":[]}");
    write(
        f,
        LS_HASH + ".ls",
        "{\"root\":{\"type\":\"regular\",\"size\":6,\"narOffset\":96},\"version\":1}");
    write(
        f,
        "debuginfo/" + BUILD_ID,
        "{\"archive\":\"../nar/1abc.nar.xz\",\"member\":\"lib/debug/.build-id/01/23.debug\"}");
    // Near has the forged one, far the real one; near has one for another id under this id's name.
    TestKey forger = new TestKey("near-1");
    write(
        n,
        "realisations/" + FORGED_ID + ".doi",
        realisation(FORGED_ID, "0000000000000000000000000000000a-evil", forger));
    write(
        f,
        "realisations/" + FORGED_ID + ".doi",
        realisation(FORGED_ID, "8lripx2hgwzaz3v8j8kvczjh337wx0y1-ca-1", farKey));
    write(
        n,
        "realisations/" + WRONG_ID + ".doi",
        realisation(FORGED_ID, "0000000000000000000000000000000a-evil", nearKey));
    write(
        f,
        "realisations/" + WRONG_ID + ".doi",
        realisation(WRONG_ID, "8lripx2hgwzaz3v8j8kvczjh337wx0y1-ca-1", farKey));
    ByteArrayOutputStream gz = new ByteArrayOutputStream();
    try (GZIPOutputStream out = new GZIPOutputStream(gz)) {
      out.write("a log stored gzip-compressed, as S3 caches do\n"
          .repeat(50)
          .getBytes(StandardCharsets.UTF_8));
    }
    gzippedLog = gz.toByteArray();
    // A realisation stored gzip-compressed in middle (signed by middle's key), a plain one in far.
    ByteArrayOutputStream gzr = new ByteArrayOutputStream();
    try (GZIPOutputStream out = new GZIPOutputStream(gzr)) {
      out.write(realisation(GZ_ID, "8lripx2hgwzaz3v8j8kvczjh337wx0y1-ca-1", nearKey)
          .getBytes(StandardCharsets.UTF_8));
    }
    Files.createDirectories(m.resolve("realisations"));
    Files.write(m.resolve("realisations/" + GZ_ID + ".doi"), gzr.toByteArray());
    write(
        f,
        "realisations/" + GZ_ID + ".doi",
        realisation(GZ_ID, "8lripx2hgwzaz3v8j8kvczjh337wx0y1-ca-1", farKey));
    Files.createDirectories(m.resolve("log"));
    Files.write(m.resolve("log/" + GZ_DRV), gzippedLog);
    near = FarCache.serving("near", n, Duration.ofMillis(5));
    middle = FarCache.serving(
        "middle",
        m,
        "location /log/ { default_type text/plain; add_header Content-Encoding gzip; }"
            + " location /realisations/ { add_header Content-Encoding gzip; }",
        Duration.ofMillis(60));
    far = FarCache.serving("far", f, Duration.ofMillis(150));
  }

  @AfterAll
  static void stopCaches() {
    for (FarCache c : new FarCache[] {near, middle, far}) {
      if (c != null) {
        c.close();
      }
    }
  }

  static Path cacheDir(String name) throws Exception {
    Path d = Files.createDirectories(root.resolve(name));
    Files.writeString(
        d.resolve("nix-cache-info"), "StoreDir: /nix/store\nWantMassQuery: 1\nPriority: 40\n");
    return d;
  }

  static void write(Path cache, String rel, String body) throws Exception {
    Path p = cache.resolve(rel);
    Files.createDirectories(p.getParent());
    Files.writeString(p, body);
  }

  /** A realisation as Nix 2.8 writes it, signed the way Nix signs one (see RealisationTest). */
  static String realisation(String id, String outPath, TestKey key) {
    String fingerprint =
        "{\"dependentRealisations\":{},\"id\":\"" + id + "\",\"outPath\":\"" + outPath + "\"}";
    return "{\"dependentRealisations\":{},\"id\":\"" + id + "\",\"outPath\":\"" + outPath
        + "\",\"signatures\":[\"" + key.sign(fingerprint) + "\"]}";
  }

  private NcroHarness ncro(List<URI> upstreams, List<String> keys) throws Exception {
    return open.keep(NcroHarness.start(
        NcroHarness.config(dir.resolve("routes.db"), NcroHarness.upstreams(upstreams, keys))));
  }

  private NcroHarness ncroOverAll() throws Exception {
    return ncro(
        List.of(near.uri(), middle.uri(), far.uri()),
        List.of(nearKey.publicKey(), nearKey.publicKey(), farKey.publicKey()));
  }

  private HttpResponse<byte[]> direct(FarCache c, String path) throws Exception {
    return http.send(
        HttpRequest.newBuilder(URI.create(c.nginx().uri() + path)).build(),
        HttpResponse.BodyHandlers.ofByteArray());
  }

  private static long requests(FarCache c, String path) throws Exception {
    String decoded = URLDecoder.decode(path.replace("+", "%2B"), StandardCharsets.UTF_8);
    return c.nginx().accessLog().stream()
        .filter(l -> l.startsWith("GET " + decoded + " ") || l.startsWith("HEAD " + decoded + " "))
        .count();
  }

  @Test
  void eachKindHeldOnlyByTheSlowestUpstreamIsServedByteIdentical() throws Exception {
    NcroHarness n = ncroOverAll();
    for (String path : FAR_ONLY) {
      HttpResponse<byte[]> upstream = direct(far, path);
      assertThat(upstream.statusCode()).as(path).isEqualTo(200);
      long nearBefore = requests(near, path);
      HttpResponse<byte[]> r = n.get(path);
      assertThat(r.statusCode()).as(path).isEqualTo(200);
      assertThat(r.body()).as(path).isEqualTo(upstream.body());
      assertThat(r.headers().firstValue("Content-Type"))
          .as(path)
          .isEqualTo(upstream.headers().firstValue("Content-Type"));
      assertThat(r.headers().firstValue("Content-Length"))
          .as(path)
          .hasValue(Integer.toString(upstream.body().length));
      assertThat(r.headers().firstValue("X-Ncro-Upstream"))
          .as(path)
          .hasValue(far.uri().getAuthority());
      assertThat(r.headers().firstValue("X-Ncro-Route")).as(path).hasValue("race");
      assertThat(requests(near, path)).as("near asked for " + path).isEqualTo(nearBefore + 1);

      HttpResponse<byte[]> h = n.head(path);
      assertThat(h.statusCode()).as("HEAD " + path).isEqualTo(200);
      assertThat(h.body()).isEmpty();
      assertThat(h.headers().firstValue("Content-Length"))
          .as(path)
          .hasValue(Integer.toString(upstream.body().length));
      assertThat(h.headers().firstValue("X-Ncro-Upstream"))
          .as(path)
          .hasValue(far.uri().getAuthority());
    }
  }

  @Test
  void aFileFoundOnceGoesStraightToItsUpstreamNextTime() throws Exception {
    NcroHarness n = ncroOverAll();
    String path = "/debuginfo/" + BUILD_ID;
    assertThat(n.get(path).statusCode()).isEqualTo(200);
    long nearBefore = requests(near, path);
    HttpResponse<byte[]> again = n.get(path);
    assertThat(again.statusCode()).isEqualTo(200);
    assertThat(again.headers().firstValue("X-Ncro-Route")).hasValue("file-route");
    assertThat(again.headers().firstValue("X-Ncro-Upstream")).hasValue(far.uri().getAuthority());
    assertThat(requests(near, path)).isEqualTo(nearBefore);
  }

  @Test
  void absentFromEveryUpstreamIs404AndRememberedAsAbsent() throws Exception {
    NcroHarness n = ncroOverAll();
    List<String> absent = List.of(
        MISSING,
        "/realisations/sha256:00aa!out.doi",
        "/build-trace-v2/" + TestNarinfo.hash(198) + "-x.drv/out.doi",
        "/" + TestNarinfo.hash(197) + ".ls",
        "/debuginfo/00aa");
    for (String path : absent) {
      assertThat(n.get(path).statusCode()).as(path).isEqualTo(404);
      HttpResponse<byte[]> second = n.head(path);
      assertThat(second.statusCode()).as(path).isEqualTo(404);
      assertThat(second.headers().firstValue("X-Ncro-Route")).as(path).hasValue("negative");
      for (FarCache c : List.of(near, middle, far)) {
        assertThat(requests(c, path)).as(c + " asked for " + path).isEqualTo(1);
      }
    }
  }

  @Test
  void oneUpstreamDownMakesAMiss503AndIsNotRemembered() throws Exception {
    FarCache broken = open.keep(FarCache.failingLookups("broken", 500, Duration.ofMillis(5)));
    NcroHarness n = ncro(List.of(near.uri(), broken.uri(), far.uri()), null);
    String path = "/log/" + TestNarinfo.hash(196) + "-nowhere.drv";
    long nearBefore = requests(near, path);
    assertThat(n.get(path).statusCode()).isEqualTo(503);
    assertThat(n.get(path).statusCode()).isEqualTo(503);
    assertThat(requests(near, path)).isEqualTo(nearBefore + 2);
    HttpResponse<byte[]> found = n.get("/log/" + DRV);
    assertThat(found.statusCode())
        .as("what another upstream has is still served")
        .isEqualTo(200);
    assertThat(found.headers().firstValue("X-Ncro-Upstream")).hasValue(far.uri().getAuthority());
  }

  @Test
  void aRealisationWithABadSignatureOrForAnotherIdCountsAsAbsentFromThatUpstream()
      throws Exception {
    NcroHarness n = ncroOverAll();
    for (String id : List.of(FORGED_ID, WRONG_ID)) {
      String path = "/realisations/" + id + ".doi";
      long nearBefore = requests(near, path);
      HttpResponse<byte[]> r = n.get(path);
      assertThat(r.statusCode()).as(path).isEqualTo(200);
      assertThat(r.headers().firstValue("X-Ncro-Upstream"))
          .as(path)
          .hasValue(far.uri().getAuthority());
      assertThat(r.body()).isEqualTo(direct(far, path).body());
      assertThat(requests(near, path))
          .as("near answered first, and lost")
          .isEqualTo(nearBefore + 1);
    }
    // Without a key for near, its realisation is passed through like an unsigned narinfo would be.
    NcroHarness trusting = ncro(List.of(near.uri(), far.uri()), null);
    HttpResponse<byte[]> r = trusting.get("/realisations/" + FORGED_ID + ".doi");
    assertThat(r.headers().firstValue("X-Ncro-Upstream")).hasValue(near.uri().getAuthority());
  }

  @Test
  void aRealisationStoredCompressedIsCheckedDecodedAndPassedOnAsStored() throws Exception {
    NcroHarness n = ncroOverAll();
    String path = "/realisations/" + GZ_ID + ".doi";
    HttpResponse<byte[]> r = n.get(path);
    assertThat(r.statusCode()).isEqualTo(200);
    assertThat(r.headers().firstValue("X-Ncro-Upstream"))
        .as("middle's signature verified on the decoded text: it wins over far")
        .hasValue(middle.uri().getAuthority());
    assertThat(r.headers().firstValue("Content-Encoding")).hasValue("gzip");
    assertThat(r.body()).isEqualTo(direct(middle, path).body());
  }

  @Test
  void aForgedRealisationOnTheOnlyUpstreamHoldingItIs404() throws Exception {
    NcroHarness n = ncro(List.of(near.uri()), List.of(nearKey.publicKey()));
    assertThat(n.get("/realisations/" + FORGED_ID + ".doi").statusCode()).isEqualTo(404);
  }

  @Test
  void aLogStoredCompressedPassesThroughWithItsContentEncoding() throws Exception {
    NcroHarness n = ncroOverAll();
    HttpResponse<byte[]> r = n.get("/log/" + GZ_DRV);
    assertThat(r.statusCode()).isEqualTo(200);
    assertThat(r.headers().firstValue("Content-Encoding")).hasValue("gzip");
    assertThat(r.headers().firstValue("Content-Type")).hasValue("text/plain");
    assertThat(r.body()).isEqualTo(gzippedLog);
    assertThat(r.headers().firstValue("X-Ncro-Upstream")).hasValue(middle.uri().getAuthority());
  }

  @Test
  void aLogCutShortByItsUpstreamAbortsTheClientConnectionInsteadOfEndingCleanly() throws Exception {
    TestUpstream cutter = open.keep(TestUpstream.start());
    String path = "/log/" + TestNarinfo.hash(160) + "-cut-1.drv";
    byte[] log = "a long build log line\n".repeat(20_000).getBytes(StandardCharsets.UTF_8);
    cutter.put(path, TestUpstream.Response.ok(log).truncateAfter(100_000));
    NcroHarness n = ncro(List.of(cutter.uri()), null);
    Assertions.assertThatThrownBy(() -> n.get(path)).isInstanceOf(IOException.class);
    assertThat(n.get("/nix-cache-info").statusCode()).as("ncro keeps serving").isEqualTo(200);
  }

  @Test
  void headWorksAgainstAnUpstreamThatRefusesHead() throws Exception {
    TestUpstream old = open.keep(TestUpstream.start());
    old.refuseHead(true);
    String path = "/log/" + TestNarinfo.hash(161) + "-old-cache-1.drv";
    byte[] log = "served by a cache that answers HEAD with 405\n".getBytes(StandardCharsets.UTF_8);
    old.put(path, TestUpstream.Response.ok(log).withType("text/plain"));
    NcroHarness n = ncro(List.of(old.uri()), null);
    Upstream u = n.ncro().registry().all().get(0);
    Await.until(
        "the start-up probe fell back to GET, and the warm connections are open",
        () -> old.requests().stream()
                .anyMatch(q -> q.path().equals("/nix-cache-info") && q.method().equals("GET"))
            && u.stats().idleConnections() == u.warmConnections()
            && old.openConnections() == u.warmConnections());
    assertThat(n.get(path).body()).isEqualTo(log);
    int connections = old.connectionCount();
    for (int i = 0; i < 3; i++) {
      HttpResponse<byte[]> h = n.head(path);
      assertThat(h.statusCode()).isEqualTo(200);
      assertThat(h.body()).isEmpty();
      assertThat(h.headers().firstValue("Content-Length")).hasValue(Integer.toString(log.length));
      assertThat(h.headers().firstValue("Content-Type")).hasValue("text/plain");
    }
    assertThat(n.get(path).body()).isEqualTo(log);
    assertThat(old.requests())
        .filteredOn(q -> q.path().equals(path))
        .extracting(TestUpstream.Request::method)
        .containsOnly("GET");
    assertThat(old.connectionCount())
        .as("the small bodies were drained, the connection kept")
        .isEqualTo(connections);
  }

  @Test
  void headOfARealisationIsCheckedLikeAGet() throws Exception {
    NcroHarness n = ncroOverAll();
    HttpResponse<byte[]> h = n.head("/realisations/" + FORGED_ID + ".doi");
    assertThat(h.statusCode()).isEqualTo(200);
    assertThat(h.body()).isEmpty();
    assertThat(h.headers().firstValue("X-Ncro-Upstream")).hasValue(far.uri().getAuthority());
    assertThat(h.headers().firstValue("Content-Length"))
        .hasValue(
            Long.toString(Files.size(root.resolve("far/realisations/" + FORGED_ID + ".doi"))));
  }

  @Test
  void aListingFollowsTheNarinfoRouteOfItsStorePath() throws Exception {
    TestUpstream fast = open.keep(TestUpstream.start());
    TestUpstream slow = open.keep(TestUpstream.start());
    String h = TestNarinfo.hash(150);
    byte[] listing = "{\"root\":{\"type\":\"directory\",\"entries\":{}},\"version\":1}"
        .getBytes(StandardCharsets.UTF_8);
    fast.put("/" + h + ".ls", TestUpstream.Response.ok(listing));
    slow.put("/" + h + ".ls", TestUpstream.Response.ok(listing));
    slow.putNarinfo(h, TestNarinfo.make(h, "nar/" + h + ".nar.xz", 100, null));
    slow.setLatency(Duration.ofMillis(50));
    NcroHarness n = ncro(List.of(fast.uri(), slow.uri()), null);
    assertThat(n.get("/" + h + ".narinfo").headers().firstValue("X-Ncro-Upstream"))
        .hasValue(slow.uri().getAuthority());

    HttpResponse<byte[]> r = n.get("/" + h + ".ls");
    assertThat(r.statusCode()).isEqualTo(200);
    assertThat(r.body()).isEqualTo(listing);
    assertThat(r.headers().firstValue("X-Ncro-Upstream")).hasValue(slow.uri().getAuthority());
    assertThat(r.headers().firstValue("X-Ncro-Route")).hasValue("narinfo-route");
    assertThat(fast.requestCount("/" + h + ".ls")).isZero();
  }

  @ParameterizedTest
  @ValueSource(
      strings = {
        "/realisations/" + ID + ".doi",
        "/realisations/sha256%3A3c724348a06b40c195b76aa202a455cb0bbbcbedc8f75daa2a46af143671162c%21out.doi",
        "/realisations/sha256%3a3c724348a06b40c195b76aa202a455cb0bbbcbedc8f75daa2a46af143671162c%21out.doi",
        "/realisations/sha256:3c724348a06b40c195b76aa202a455cb0bbbcbedc8f75daa2a46af143671162c%21out.doi",
      })
  void rawAndPercentEscapedRealisationIdsGiveTheSame200(String path) throws Exception {
    TestUpstream plain = open.keep(TestUpstream.start());
    String canonical = "/realisations/" + ID + ".doi";
    byte[] body = realisation(ID, "8lripx2hgwzaz3v8j8kvczjh337wx0y1-ca-1", farKey)
        .getBytes(StandardCharsets.UTF_8);
    plain.put(canonical, TestUpstream.Response.ok(body).withType("application/json"));
    NcroHarness n =
        ncro(List.of(plain.uri(), far.uri()), List.of(farKey.publicKey(), farKey.publicKey()));

    HttpResponse<byte[]> r = n.get(path);
    assertThat(r.statusCode()).isEqualTo(200);
    assertThat(r.body()).isEqualTo(body);
    assertThat(plain.requests())
        .filteredOn(q -> q.path().startsWith("/realisations/"))
        .extracting(TestUpstream.Request::path)
        .containsExactly(canonical);
    // and through nginx, which decodes before it looks for the file: the same bytes as stored
    HttpResponse<byte[]> viaNginx = ncroOverAll().get(path);
    assertThat(viaNginx.statusCode()).isEqualTo(200);
    assertThat(viaNginx.body())
        .isEqualTo(Files.readAllBytes(root.resolve("far/realisations/" + ID + ".doi")));
  }

  @Test
  void requestsAreCountedPerKindFromZero() throws Exception {
    NcroHarness n = ncroOverAll();
    String before = new String(n.get("/metrics").body(), StandardCharsets.UTF_8);
    for (String kind : List.of("log", "realisation", "listing", "debuginfo")) {
      assertThat(before).contains("ncro_requests_total{kind=\"" + kind + "\"} 0.0");
    }
    List<String> paths = new ArrayList<>(FAR_ONLY);
    paths.add(MISSING);
    for (String p : paths) {
      n.get(p);
    }
    String after = new String(n.get("/metrics").body(), StandardCharsets.UTF_8);
    assertThat(after)
        .contains(
            "ncro_requests_total{kind=\"log\"} 2.0",
            "ncro_requests_total{kind=\"realisation\"} 2.0",
            "ncro_requests_total{kind=\"listing\"} 1.0",
            "ncro_requests_total{kind=\"debuginfo\"} 1.0");
    String status = new String(n.get("/status").body(), StandardCharsets.UTF_8);
    assertThat(status)
        .contains(
            "\"cache_file_requests\":{\"log\":2,\"realisation\":2,\"listing\":1,\"debuginfo\":1}");
  }
}

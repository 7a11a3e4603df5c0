package dev.ncro.it;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.ncro.support.Await;
import dev.ncro.support.Closer;
import dev.ncro.support.NcroHarness;
import dev.ncro.support.TestNarinfo;
import dev.ncro.support.TestUpstream;
import java.io.IOException;
import java.io.InputStream;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** NAR streaming: routed upstream first, 404 fallback, pass-through headers, abort on a broken body. */
class NarStreamingIT {
  @TempDir
  Path dir;

  @RegisterExtension
  final Closer open = new Closer();

  private TestUpstream upstream() throws Exception {
    return open.keep(TestUpstream.start());
  }

  private NcroHarness ncro(List<URI> upstreams) throws Exception {
    return open.keep(NcroHarness.start(
        NcroHarness.config(dir.resolve("routes.db"), NcroHarness.upstreams(upstreams, null))));
  }

  private static byte[] bytes(int n, long seed) {
    byte[] b = new byte[n];
    new Random(seed).nextBytes(b);
    return b;
  }

  @Test
  void narGoesToTheUpstreamThatServedItsNarinfo() throws Exception {
    TestUpstream a = upstream();
    TestUpstream b = upstream();
    String h = TestNarinfo.hash(10);
    String narPath = "/nar/" + h + "-only-on-b.nar.zst";
    b.putNarinfo(h, TestNarinfo.make(h, narPath.substring(1), 5000, null));
    byte[] nar = bytes(200_000, 1);
    b.putNar(narPath, nar);
    a.putNar(narPath, bytes(200_000, 2)); // a different file under the same name: must not be used
    NcroHarness n = ncro(List.of(a.uri(), b.uri()));

    assertThat(n.get("/" + h + ".narinfo").statusCode()).isEqualTo(200);
    HttpResponse<byte[]> r = n.get(narPath);
    assertThat(r.statusCode()).isEqualTo(200);
    assertThat(r.body()).isEqualTo(nar);
    assertThat(r.headers().firstValue("Content-Length")).hasValue("200000");
    assertThat(r.headers().firstValue("X-Ncro-Route")).hasValue("nar-route");
    assertThat(a.requestCount(narPath)).isZero();
  }

  @Test
  void a404FallsThroughToTheNextUpstream() throws Exception {
    TestUpstream a = upstream();
    TestUpstream b = upstream();
    byte[] nar = bytes(50_000, 3);
    b.putNar("/nar/abc.nar.xz", nar);
    NcroHarness n = ncro(List.of(a.uri(), b.uri()));

    HttpResponse<byte[]> r = n.get("/nar/abc.nar.xz");
    assertThat(r.statusCode()).isEqualTo(200);
    assertThat(r.body()).isEqualTo(nar);
    assertThat(r.headers().firstValue("X-Ncro-Upstream")).hasValue(b.uri().getAuthority());
    assertThat(n.get("/nar/missing.nar.xz").statusCode()).isEqualTo(404);
  }

  @Test
  void headAnswersHeadersWithoutBody() throws Exception {
    TestUpstream a = upstream();
    a.putNar("/nar/h.nar", bytes(12_345, 4));
    NcroHarness n = ncro(List.of(a.uri()));
    HttpResponse<byte[]> r = n.head("/nar/h.nar");
    assertThat(r.statusCode()).isEqualTo(200);
    assertThat(r.headers().firstValue("Content-Length")).hasValue("12345");
    assertThat(r.body()).isEmpty();
  }

  @Test
  void aBodyThatBreaksMidwayAbortsTheClientConnection() throws Exception {
    TestUpstream a = upstream();
    a.put("/nar/t.nar.xz", TestUpstream.Response.ok(bytes(1_000_000, 5)).truncateAfter(300_000));
    NcroHarness n = ncro(List.of(a.uri()));

    assertBrokenDownload(n, "/nar/t.nar.xz", 1_000_000);
  }

  @Test
  void aChunkedBodyThatTurnsMalformedIsABrokenDownloadNotACompleteOne() throws Exception {
    TestUpstream a = upstream();
    a.putNar("/nar/m.nar", bytes(1 << 20, 13));
    a.chunked(true);
    a.corruptChunk(true); // a bad chunk-size line half-way, then the connection closes
    NcroHarness n = ncro(List.of(a.uri()));

    HttpResponse<InputStream> r = HttpClient.newHttpClient()
        .send(
            HttpRequest.newBuilder(n.uri("/nar/m.nar")).build(),
            HttpResponse.BodyHandlers.ofInputStream());
    assertThat(r.statusCode()).isEqualTo(200);
    assertThatThrownBy(() -> {
          try (InputStream in = r.body()) {
            in.readAllBytes();
          }
        })
        .isInstanceOf(IOException.class);
    String series = "ncro_upstream_errors_total{kind=\"protocol\",upstream=\"" + a.uri() + "\"}";
    Await.until("the malformed body counted as a protocol error", () -> {
      try {
        return n.metric(series) == 1;
      } catch (Exception e) {
        throw new AssertionError("scraping /metrics", e);
      }
    });
  }

  @Test
  void aLargeNarStreamsIntact() throws Exception {
    TestUpstream a = upstream();
    byte[] nar = bytes(32 * 1024 * 1024, 6);
    a.putNar("/nar/big.nar", nar);
    NcroHarness n = ncro(List.of(a.uri()));
    HttpResponse<byte[]> r = n.get("/nar/big.nar");
    assertThat(r.statusCode()).isEqualTo(200);
    assertThat(r.body()).isEqualTo(nar);
  }

  @Test
  void rangeRequestsAreForwardedAndAnsweredWithPartialContent() throws Exception {
    TestUpstream a = upstream();
    byte[] nar = bytes(100_000, 7);
    a.putNar("/nar/r.nar", nar);
    NcroHarness n = ncro(List.of(a.uri()));
    HttpResponse<byte[]> r = HttpClient.newHttpClient()
        .send(
            HttpRequest.newBuilder(n.uri("/nar/r.nar"))
                .header("Range", "bytes=60000-")
                .build(),
            HttpResponse.BodyHandlers.ofByteArray());
    assertThat(r.statusCode()).isEqualTo(206);
    assertThat(r.headers().firstValue("Content-Range")).hasValue("bytes 60000-99999/100000");
    assertThat(r.headers().firstValue("Accept-Ranges")).hasValue("bytes");
    assertThat(r.body()).isEqualTo(Arrays.copyOfRange(nar, 60000, 100000));
    assertThat(a.requests())
        .last()
        .satisfies(req -> assertThat(req.headers()).containsEntry("range", "bytes=60000-"));
  }

  @Test
  void aNar404FromTheRoutedUpstreamInvalidatesTheRoute() throws Exception {
    TestUpstream a = upstream();
    String h = TestNarinfo.hash(11);
    a.putNarinfo(h, TestNarinfo.make(h, "nar/gone.nar", 10, null));
    NcroHarness n = ncro(List.of(a.uri()));
    assertThat(n.get("/" + h + ".narinfo").statusCode()).isEqualTo(200);
    NarinfoRoutingIT.awaitStored(n, h);
    assertThat(n.get("/nar/gone.nar").statusCode()).isEqualTo(404);
    long deadline = System.nanoTime() + 5_000_000_000L;
    while (n.ncro().store().get(h).isPresent() && System.nanoTime() < deadline) {
      Thread.sleep(10);
    }
    assertThat(n.ncro().store().get(h)).isEmpty();
    assertThat(n.get("/" + h + ".narinfo").headers().firstValue("X-Ncro-Route")).hasValue("race");
  }

  /** A cache whose narinfo for {@code h} points at {@code narPath}; {@code fileHash} names the file. */
  private static byte[] narinfo(String h, String narPath, long size, String fileHash) {
    String text =
        new String(TestNarinfo.make(h, narPath.substring(1), size, null), StandardCharsets.UTF_8);
    return text.replaceAll("FileHash: .*\n", "FileHash: " + fileHash + "\n")
        .getBytes(StandardCharsets.UTF_8);
  }

  @Test
  void aBrokenDownloadResumesSeamlesslyFromAnUpstreamWithTheSameFile() throws Exception {
    TestUpstream routed = upstream();
    TestUpstream other = upstream();
    String h = TestNarinfo.hash(12);
    byte[] nar = bytes(3_000_000, 8);
    routed.putNarinfo(h, narinfo(h, "/nar/same.nar.xz", nar.length, "sha256:samefile"));
    other.setLatency(Duration.ofMillis(100)); // loses the race: the routed upstream serves first
    other.putNarinfo(h, narinfo(h, "/nar/other-name.nar.xz", nar.length, "sha256:samefile"));
    routed.put("/nar/same.nar.xz", TestUpstream.Response.ok(nar).truncateAfter(1_000_000));
    other.putNar("/nar/other-name.nar.xz", nar);
    NcroHarness n = ncro(List.of(routed.uri(), other.uri()));
    assertThat(n.get("/" + h + ".narinfo").headers().firstValue("X-Ncro-Upstream"))
        .hasValue(routed.uri().getAuthority());

    HttpResponse<byte[]> r = n.get("/nar/same.nar.xz");
    assertThat(r.statusCode()).isEqualTo(200);
    assertThat(r.headers().firstValue("Content-Length")).hasValue("3000000");
    assertThat(r.body()).isEqualTo(nar);
    TestUpstream.Request resumed = other.requests().stream()
        .filter(q -> q.path().equals("/nar/other-name.nar.xz"))
        .findFirst()
        .orElseThrow();
    assertThat(resumed.headers().get("range")).matches("bytes=\\d+-");
    assertThat(Long.parseLong(resumed.headers().get("range").replaceAll("\\D", "")))
        .isGreaterThan(0)
        .isLessThanOrEqualTo(1_000_000);
  }

  @Test
  void aResumeSourceAnsweringTheRangeWith200IsNotSplicedIn() throws Exception {
    TestUpstream routed = upstream();
    TestUpstream other = upstream();
    String h = TestNarinfo.hash(13);
    byte[] nar = bytes(2_000_000, 9);
    routed.putNarinfo(h, narinfo(h, "/nar/r.nar", nar.length, "sha256:f"));
    other.setLatency(Duration.ofMillis(100));
    other.putNarinfo(h, narinfo(h, "/nar/r.nar", nar.length, "sha256:f"));
    routed.put("/nar/r.nar", TestUpstream.Response.ok(nar).truncateAfter(500_000));
    other.putNar("/nar/r.nar", nar);
    other.rangeAs200(true);
    NcroHarness n = ncro(List.of(routed.uri(), other.uri()));
    n.get("/" + h + ".narinfo");
    assertBrokenDownload(n, "/nar/r.nar", nar.length);
    assertThat(other.requests()).anySatisfy(q -> assertThat(q.headers()).containsKey("range"));
  }

  @Test
  void aDifferentFileIsNeverUsedToResume() throws Exception {
    TestUpstream routed = upstream();
    TestUpstream other = upstream();
    String h = TestNarinfo.hash(14);
    byte[] nar = bytes(2_000_000, 10);
    routed.putNarinfo(h, narinfo(h, "/nar/d.nar", nar.length, "sha256:one"));
    other.setLatency(Duration.ofMillis(100));
    other.putNarinfo(h, narinfo(h, "/nar/d.nar", nar.length, "sha256:another"));
    routed.put("/nar/d.nar", TestUpstream.Response.ok(nar).truncateAfter(500_000));
    other.putNar("/nar/d.nar", bytes(2_000_000, 11));
    NcroHarness n = ncro(List.of(routed.uri(), other.uri()));
    n.get("/" + h + ".narinfo");
    assertBrokenDownload(n, "/nar/d.nar", nar.length);
    assertThat(other.requestCount("/nar/d.nar")).isZero();
  }

  /**
   * A resume source that refuses the range with a short error (404, 416) or answers a 206 from the
   * wrong byte: its error body can complete in the same read as its headers. The download must go on
   * from the next source with the same file, with exactly one (ranged) request to each: never a
   * second, unranged attempt started by the aborted exchange's completion while the next resume
   * source is being looked up.
   */
  @ParameterizedTest
  @ValueSource(strings = {"404", "416", "206-wrong-range"})
  void aResumeSourceRefusingTheRangeIsAskedOnceAndTheNextOneResumes(String answer)
      throws Exception {
    TestUpstream routed = upstream();
    TestUpstream refusing = upstream();
    TestUpstream good = upstream();
    String h = TestNarinfo.hash(15);
    byte[] nar = bytes(2_000_000, 15);
    routed.putNarinfo(h, narinfo(h, "/nar/w.nar", nar.length, "sha256:w"));
    refusing.putNarinfo(h, narinfo(h, "/nar/w-refusing.nar", nar.length, "sha256:w"));
    good.putNarinfo(h, narinfo(h, "/nar/w-good.nar", nar.length, "sha256:w"));
    // Latency order routed < refusing < good: the routed upstream serves first, the refusing one
    // is the first resume source tried.
    refusing.setLatency(Duration.ofMillis(40));
    good.setLatency(Duration.ofMillis(150));
    routed.put("/nar/w.nar", TestUpstream.Response.ok(nar).truncateAfter(500_000));
    good.putNar("/nar/w-good.nar", nar);
    switch (answer) {
      case "404" -> {} // not there: the default answer
      case "416" -> refusing.put("/nar/w-refusing.nar", TestUpstream.Response.status(416));
      default -> {
        refusing.putNar("/nar/w-refusing.nar", nar);
        refusing.rangeOffByOne(true);
      }
    }
    NcroHarness n = ncro(List.of(routed.uri(), refusing.uri(), good.uri()));
    assertThat(n.get("/" + h + ".narinfo").headers().firstValue("X-Ncro-Upstream"))
        .hasValue(routed.uri().getAuthority());
    Await.until(
        "every upstream's answer is in the latency EMA",
        () -> n.ncro().registry().all().stream()
            .allMatch(u -> !Double.isNaN(u.stats().emaMillis())));
    refusing.setLatency(Duration.ZERO);
    good.setLatency(Duration.ZERO);

    HttpResponse<byte[]> r = n.get("/nar/w.nar");
    assertThat(r.statusCode()).isEqualTo(200);
    assertThat(r.body()).isEqualTo(nar);
    assertThat(narRequests(refusing))
        .as("NAR requests to the refusing source")
        .singleElement()
        .satisfies(q -> assertThat(q.headers()).containsKey("range"));
    assertThat(narRequests(good))
        .as("NAR requests to the good source")
        .singleElement()
        .satisfies(q -> assertThat(q.headers()).containsKey("range"));
    assertThat(narRequests(routed)).as("NAR requests to the routed upstream").hasSize(1);
  }

  private static List<TestUpstream.Request> narRequests(TestUpstream u) {
    return u.requests().stream().filter(q -> q.path().startsWith("/nar/")).toList();
  }

  /** The client sees the promised length and then a broken connection, never a clean short body. */
  static void assertBrokenDownload(NcroHarness n, String path, int length) throws Exception {
    HttpResponse<InputStream> r = HttpClient.newHttpClient()
        .send(
            HttpRequest.newBuilder(n.uri(path)).build(), HttpResponse.BodyHandlers.ofInputStream());
    assertThat(r.statusCode()).isEqualTo(200);
    assertThat(r.headers().firstValue("Content-Length")).hasValue(Integer.toString(length));
    assertThatThrownBy(() -> {
          try (InputStream in = r.body()) {
            in.readAllBytes();
          }
        })
        .isInstanceOf(IOException.class);
  }

  @Test
  void aRangeAnsweredWith200UpstreamIsCutToTheRangeForTheClient() throws Exception {
    TestUpstream a = upstream();
    byte[] nar = bytes(100_000, 12);
    a.putNar("/nar/q.nar", nar);
    a.rangeAs200(true);
    NcroHarness n = ncro(List.of(a.uri()));
    HttpResponse<byte[]> r = HttpClient.newHttpClient()
        .send(
            HttpRequest.newBuilder(n.uri("/nar/q.nar"))
                .header("Range", "bytes=70000-")
                .build(),
            HttpResponse.BodyHandlers.ofByteArray());
    assertThat(r.statusCode()).isEqualTo(206);
    assertThat(r.headers().firstValue("Content-Range")).hasValue("bytes 70000-99999/100000");
    assertThat(r.headers().firstValue("Content-Length")).hasValue("30000");
    assertThat(r.body()).isEqualTo(Arrays.copyOfRange(nar, 70000, 100000));
  }

  @Test
  void aBodyOnAHeadReplyDoesNotCorruptTheNextRequestOnThatConnection() throws Exception {
    TestUpstream a = upstream();
    byte[] nar = bytes(20_000, 13);
    a.putNar("/nar/h1.nar", nar);
    a.putNar("/nar/h2.nar", bytes(30_000, 14));
    a.bodyOnHead(true);
    NcroHarness n = ncro(List.of(a.uri()));
    for (int i = 0; i < 3; i++) {
      HttpResponse<byte[]> head = n.head("/nar/h1.nar");
      assertThat(head.statusCode()).isEqualTo(200);
      assertThat(head.headers().firstValue("Content-Length")).hasValue("20000");
      HttpResponse<byte[]> get = n.get("/nar/h2.nar");
      assertThat(get.statusCode()).isEqualTo(200);
      assertThat(get.body()).hasSize(30_000);
      assertThat(n.get("/nar/h1.nar").body()).isEqualTo(nar);
    }
  }
}

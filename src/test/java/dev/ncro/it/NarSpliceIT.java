package dev.ncro.it;

import static org.assertj.core.api.Assertions.assertThat;

import dev.ncro.config.Config;
import dev.ncro.config.UpstreamConfig;
import dev.ncro.config.UpstreamCredentials;
import dev.ncro.support.Await;
import dev.ncro.support.Closer;
import dev.ncro.support.NcroHarness;
import dev.ncro.support.Nginx;
import dev.ncro.support.TestCa;
import dev.ncro.support.TestNarinfo;
import dev.ncro.support.TestUpstream;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.Socket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * NAR bodies relayed by splice(2) ({@code server.nar_splice}, plain-HTTP upstreams): byte for byte,
 * with Range, resume after a break, client aborts, and the copy relay wherever splice cannot apply
 * (chunked bodies, TLS, splice off). {@code ncro_nar_relay_total{mode}} proves which relay ran.
 *
 * <p>Splice needs the upstream connection on the client's event loop; this class runs ncro with one
 * loop ({@code ncro.io.threads=1}, its own JVM: surefire does not reuse forks), the default on
 * machines with up to three cores, so the relay taken does not depend on the test machine.
 */
class NarSpliceIT {
  @TempDir
  Path dir;

  @RegisterExtension
  final Closer open = new Closer();

  @BeforeAll
  static void oneEventLoop() {
    System.setProperty("ncro.io.threads", "1");
  }

  private TestUpstream upstream() throws Exception {
    return open.keep(TestUpstream.start());
  }

  private NcroHarness ncro(Config config) throws Exception {
    return open.keep(NcroHarness.start(config));
  }

  private NcroHarness ncro(List<URI> upstreams) throws Exception {
    return ncro(config(NcroHarness.upstreams(upstreams, null)));
  }

  /** Splice on (the embedded default is off). */
  private Config config(List<UpstreamConfig> upstreams) {
    Config c = NcroHarness.config(dir.resolve("routes.db"), upstreams);
    return c.withServer(c.server().withNarSplice(true));
  }

  private static byte[] bytes(int n, long seed) {
    byte[] b = new byte[n];
    new Random(seed).nextBytes(b);
    return b;
  }

  private static double streams(NcroHarness n) {
    try {
      return n.metric("ncro_nar_streams_in_flight");
    } catch (Exception e) {
      throw new AssertionError("scraping /metrics", e);
    }
  }

  private static double relays(NcroHarness n, String mode) throws Exception {
    return n.metric("ncro_nar_relay_total{mode=\"" + mode + "\"}");
  }

  private static double relayBytes(NcroHarness n, String mode) throws Exception {
    return n.metric("ncro_nar_relay_bytes_total{mode=\"" + mode + "\"}");
  }

  @Test
  void aLargeNarIsSplicedByteForByteAndTheConnectionIsReused() throws Exception {
    TestUpstream a = upstream();
    byte[] nar = bytes(40 << 20, 1);
    a.putNar("/nar/big.nar", nar);
    NcroHarness n = ncro(List.of(a.uri()));

    HttpResponse<byte[]> r = n.get("/nar/big.nar");
    assertThat(r.statusCode()).isEqualTo(200);
    assertThat(r.headers().firstValue("Content-Length")).hasValue(Integer.toString(nar.length));
    assertThat(r.body()).isEqualTo(nar);
    assertThat(relays(n, "splice")).isEqualTo(1);
    assertThat(relays(n, "copy")).isZero();
    assertThat(relayBytes(n, "splice") + relayBytes(n, "copy")).isEqualTo(nar.length);
    assertThat(relayBytes(n, "splice")).isGreaterThan(nar.length / 2.0);
    assertThat(n.metric("ncro_nar_bytes_total{upstream=\"" + a.uri() + "\"}"))
        .isEqualTo(nar.length);

    // The spliced connection went back to the pool with a fresh decoder: the next answer on it
    // parses, and no new connection was opened for it.
    int connections = a.connectionCount();
    HttpResponse<byte[]> again = n.get("/nar/big.nar");
    assertThat(again.body()).isEqualTo(nar);
    assertThat(a.connectionCount()).isEqualTo(connections);
    assertThat(relays(n, "splice")).isEqualTo(2);
  }

  @Test
  void aRangeIsSplicedFromItsFirstByte() throws Exception {
    TestUpstream a = upstream();
    byte[] nar = bytes(20 << 20, 2);
    a.putNar("/nar/r.nar", nar);
    NcroHarness n = ncro(List.of(a.uri()));
    HttpResponse<byte[]> r = HttpClient.newHttpClient()
        .send(
            HttpRequest.newBuilder(n.uri("/nar/r.nar"))
                .header("Range", "bytes=1000001-")
                .build(),
            HttpResponse.BodyHandlers.ofByteArray());
    assertThat(r.statusCode()).isEqualTo(206);
    assertThat(r.headers().firstValue("Content-Range"))
        .hasValue("bytes 1000001-" + (nar.length - 1) + "/" + nar.length);
    assertThat(r.body()).isEqualTo(Arrays.copyOfRange(nar, 1000001, nar.length));
    assertThat(relays(n, "splice")).isEqualTo(1);
  }

  @Test
  void aRangeTheUpstreamIgnoredIsCutAndTheRestSpliced() throws Exception {
    TestUpstream a = upstream();
    byte[] nar = bytes(20 << 20, 3);
    a.putNar("/nar/q.nar", nar);
    a.rangeAs200(true);
    NcroHarness n = ncro(List.of(a.uri()));
    int from =
        3_000_001; // beyond the first reads: bytes are dropped by copy, then splice takes over
    HttpResponse<byte[]> r = HttpClient.newHttpClient()
        .send(
            HttpRequest.newBuilder(n.uri("/nar/q.nar"))
                .header("Range", "bytes=" + from + "-")
                .build(),
            HttpResponse.BodyHandlers.ofByteArray());
    assertThat(r.statusCode()).isEqualTo(206);
    assertThat(r.headers().firstValue("Content-Length"))
        .hasValue(Integer.toString(nar.length - from));
    assertThat(r.body()).isEqualTo(Arrays.copyOfRange(nar, from, nar.length));
  }

  /** A cache whose narinfo for {@code h} points at {@code narPath}; {@code fileHash} names the file. */
  private static byte[] narinfo(String h, String narPath, long size, String fileHash) {
    String text =
        new String(TestNarinfo.make(h, narPath.substring(1), size, null), StandardCharsets.UTF_8);
    return text.replaceAll("FileHash: .*\n", "FileHash: " + fileHash + "\n")
        .getBytes(StandardCharsets.UTF_8);
  }

  @Test
  void aBodyBrokenMidSpliceResumesFromTheExactByteElsewhere() throws Exception {
    TestUpstream routed = upstream();
    TestUpstream other = upstream();
    String h = TestNarinfo.hash(31);
    byte[] nar = bytes(24 << 20, 4);
    int cut = 9_000_000;
    routed.putNarinfo(h, narinfo(h, "/nar/same.nar.xz", nar.length, "sha256:splicefile"));
    other.setLatency(Duration.ofMillis(100)); // loses the race: the routed upstream serves first
    other.putNarinfo(h, narinfo(h, "/nar/other.nar.xz", nar.length, "sha256:splicefile"));
    routed.put("/nar/same.nar.xz", TestUpstream.Response.ok(nar).truncateAfter(cut));
    other.putNar("/nar/other.nar.xz", nar);
    NcroHarness n = ncro(List.of(routed.uri(), other.uri()));
    assertThat(n.get("/" + h + ".narinfo").headers().firstValue("X-Ncro-Upstream"))
        .hasValue(routed.uri().getAuthority());
    other.setLatency(Duration.ZERO);

    HttpResponse<byte[]> r = n.get("/nar/same.nar.xz");
    assertThat(r.statusCode()).isEqualTo(200);
    assertThat(r.body()).isEqualTo(nar); // any miscount of the spliced bytes corrupts this
    TestUpstream.Request resumed = other.requests().stream()
        .filter(q -> q.path().equals("/nar/other.nar.xz"))
        .findFirst()
        .orElseThrow();
    long offset = Long.parseLong(resumed.headers().get("range").replaceAll("\\D", ""));
    assertThat(offset).isGreaterThan(1 << 20).isLessThanOrEqualTo(cut);
    assertThat(relays(n, "splice")).isEqualTo(2); // the broken body and the resumed one
    assertThat(relayBytes(n, "splice") + relayBytes(n, "copy")).isEqualTo(nar.length);
  }

  @Test
  void aBodyBrokenMidSpliceWithNoOtherHolderAbortsTheClient() throws Exception {
    TestUpstream a = upstream();
    a.put("/nar/t.nar.xz", TestUpstream.Response.ok(bytes(20 << 20, 5)).truncateAfter(6_000_000));
    NcroHarness n = ncro(List.of(a.uri()));
    NarStreamingIT.assertBrokenDownload(n, "/nar/t.nar.xz", 20 << 20);
    assertThat(relays(n, "splice")).isEqualTo(1);
  }

  @Test
  void aBodyThatStallsMidSpliceHitsTheStallTimeoutAndResumesElsewhere() throws Exception {
    TestUpstream routed = upstream();
    TestUpstream other = upstream();
    String h = TestNarinfo.hash(32);
    byte[] nar = bytes(16 << 20, 10);
    routed.putNarinfo(h, narinfo(h, "/nar/stall.nar", nar.length, "sha256:stallfile"));
    other.setLatency(Duration.ofMillis(100));
    other.putNarinfo(h, narinfo(h, "/nar/stall.nar", nar.length, "sha256:stallfile"));
    routed.put("/nar/stall.nar", TestUpstream.Response.ok(nar).truncateAfter(7_000_000));
    routed.stallAtTruncation(
        true); // then silence, connection open: only the stall timeout (2 s) ends it
    other.putNar("/nar/stall.nar", nar);
    NcroHarness n = ncro(List.of(routed.uri(), other.uri()));
    assertThat(n.get("/" + h + ".narinfo").headers().firstValue("X-Ncro-Upstream"))
        .hasValue(routed.uri().getAuthority());
    other.setLatency(Duration.ZERO);

    HttpResponse<byte[]> r = n.get("/nar/stall.nar");
    assertThat(r.body()).isEqualTo(nar);
    Await.until("ncro closed the stalled connection", () -> routed.hangsEndedByPeer() == 1);
    assertThat(n.metric(
            "ncro_upstream_errors_total{kind=\"timeout\",upstream=\"" + routed.uri() + "\"}"))
        .isEqualTo(1);
    TestUpstream.Request resumed = other.requests().stream()
        .filter(q -> q.path().equals("/nar/stall.nar"))
        .findFirst()
        .orElseThrow();
    // Nothing was lost to a close here: every byte the stalled upstream sent reached the client.
    assertThat(resumed.headers().get("range")).isEqualTo("bytes=7000000-");
    assertThat(relays(n, "splice")).isEqualTo(2);
  }

  @Test
  void aClientThatLeavesMidSpliceStopsTheUpstreamTransfer() throws Exception {
    TestUpstream a = upstream();
    byte[] nar = bytes(64 << 20, 6);
    a.putNar("/nar/huge.nar", nar);
    NcroHarness n = ncro(List.of(a.uri()));
    try (Socket s = new Socket("127.0.0.1", n.ncro().address().getPort())) {
      OutputStream out = s.getOutputStream();
      out.write(
          "GET /nar/huge.nar HTTP/1.1\r\nHost: x\r\n\r\n".getBytes(StandardCharsets.US_ASCII));
      out.flush();
      InputStream in = s.getInputStream();
      byte[] buf = new byte[1 << 16];
      long got = 0;
      // Past what the first socket reads can copy (at most 16 reads of 256 KiB): the rest of the
      // body is being spliced when the client leaves.
      while (got < (8 << 20)) {
        int k = in.read(buf);
        assertThat(k).isPositive();
        got += k;
      }
    }
    Await.until(
        "the upstream's send failed: ncro closed its connection", () -> a.bodiesCutByPeer() == 1);
    Await.until("no NAR stream left in flight", () -> streams(n) == 0);
    assertThat(a.bodyBytesWritten("/nar/huge.nar")).isLessThan(nar.length);
    // ncro goes on serving: the next download on a new connection is whole.
    a.putNar("/nar/next.nar", Arrays.copyOf(nar, 5 << 20));
    assertThat(n.get("/nar/next.nar").body()).isEqualTo(Arrays.copyOf(nar, 5 << 20));
  }

  @Test
  void aChunkedBodyIsCopied() throws Exception {
    TestUpstream a = upstream();
    byte[] nar = bytes(6 << 20, 7);
    a.putNar("/nar/c.nar", nar);
    a.chunked(true);
    NcroHarness n = ncro(List.of(a.uri()));
    HttpResponse<byte[]> r = n.get("/nar/c.nar");
    assertThat(r.statusCode()).isEqualTo(200);
    assertThat(r.body()).isEqualTo(nar);
    assertThat(relays(n, "copy")).isEqualTo(1);
    assertThat(relays(n, "splice")).isZero();
  }

  @Test
  void withSpliceOffEveryBodyIsCopied() throws Exception {
    TestUpstream a = upstream();
    byte[] nar = bytes(12 << 20, 8);
    a.putNar("/nar/o.nar", nar);
    Config c = config(NcroHarness.upstreams(List.of(a.uri()), null));
    NcroHarness n = ncro(c.withServer(c.server().withNarSplice(false)));
    assertThat(n.get("/nar/o.nar").body()).isEqualTo(nar);
    assertThat(relays(n, "copy")).isEqualTo(1);
    assertThat(relays(n, "splice")).isZero();
  }

  @Test
  void aTlsUpstreamIsCopied() throws Exception {
    Path shared = Files.createDirectories(dir.resolve("tls"));
    TestCa ca = TestCa.create(shared.resolve("ca"), "ncro splice test CA");
    TestCa.ServerCert cert = ca.issue(List.of("localhost"), List.of("127.0.0.1"));
    Path root = Files.createDirectories(shared.resolve("cache/nar"));
    byte[] nar = bytes(12 << 20, 9);
    Files.write(root.resolve("s.nar"), nar);
    Nginx nginx =
        open.keep(Nginx.tls(cert, "root " + root.getParent() + ";\n      location / { }"));
    NcroHarness n = ncro(config(List.of(new UpstreamConfig(
        nginx.httpsUri("localhost"), 10, List.of(), ca.certificate(), UpstreamCredentials.NONE))));
    HttpResponse<byte[]> r = n.get("/nar/s.nar");
    assertThat(r.statusCode()).isEqualTo(200);
    assertThat(r.body()).isEqualTo(nar);
    assertThat(relays(n, "copy")).isEqualTo(1);
    assertThat(relays(n, "splice")).isZero();
  }
}

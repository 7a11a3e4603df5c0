package dev.ncro.it;

import static org.assertj.core.api.Assertions.assertThat;

import dev.ncro.config.OutboundProxy;
import dev.ncro.config.S3Location;
import dev.ncro.config.UpstreamConfig;
import dev.ncro.support.Await;
import dev.ncro.support.Closer;
import dev.ncro.support.CuttingRelay;
import dev.ncro.support.DelayRelay;
import dev.ncro.support.ForwardProxy;
import dev.ncro.support.LogCapture;
import dev.ncro.support.NcroHarness;
import dev.ncro.support.S3Proxy;
import dev.ncro.support.TestKey;
import dev.ncro.support.TestNarinfo;
import dev.ncro.support.TestUpstream;
import dev.ncro.upstream.Health;
import dev.ncro.upstream.Upstream;
import java.net.InetSocketAddress;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.stream.Collectors;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * S3 buckets as upstreams, against a real S3 server (S3Proxy, signatures checked): the same
 * routing, streaming, fall-through and resume rules as HTTP upstreams; a refused signature makes
 * the upstream unauthorized and the answer a 503; the secret key never shows.
 */
class S3UpstreamIT {
  private static final TestKey KEY = new TestKey("s3-test-1");

  @TempDir
  Path dir;

  @RegisterExtension
  final Closer open = new Closer();

  private LogCapture logs;
  private S3Proxy s3;

  @BeforeEach
  void start() throws Exception {
    logs = open.keep(new LogCapture());
    s3 = open.keep(S3Proxy.start(dir.resolve("s3proxy")));
  }

  private static byte[] bytes(int n, long seed) {
    byte[] b = new byte[n];
    new Random(seed).nextBytes(b);
    return b;
  }

  private static byte[] text(String s) {
    return s.getBytes(StandardCharsets.UTF_8);
  }

  /** A bucket holding a binary cache: nix-cache-info, one narinfo (signed by KEY) and its NAR. */
  private void cache(
      String bucket, String prefix, String hash, String narUrl, byte[] nar, String fileHash)
      throws Exception {
    String p = prefix.isEmpty() ? "" : prefix + "/";
    s3.put(
        bucket,
        p + "nix-cache-info",
        text("StoreDir: /nix/store\nWantMassQuery: 1\nPriority: 40\n"));
    String info =
        new String(TestNarinfo.make(hash, narUrl, nar.length, KEY), StandardCharsets.UTF_8);
    if (fileHash != null) {
      info = info.replaceAll("FileHash: .*\n", "FileHash: " + fileHash + "\n");
    }
    s3.put(bucket, p + hash + ".narinfo", text(info));
    s3.put(bucket, p + narUrl, nar);
  }

  private UpstreamConfig s3Upstream(String url, int priority) {
    return UpstreamConfig.s3(S3Location.parse(url), priority, List.of(KEY.publicKey()));
  }

  private NcroHarness ncro(List<UpstreamConfig> upstreams, String secret) throws Exception {
    return open.keep(NcroHarness.start(
        NcroHarness.config(dir.resolve("routes.db"), upstreams),
        S3Proxy.awsEnv(dir.resolve("home"), secret)));
  }

  private static String body(HttpResponse<byte[]> r) {
    return new String(r.body(), StandardCharsets.UTF_8);
  }

  @Test
  void servesNarinfosAndNarsFromABucketUnderAPrefixWithSignedRequests() throws Exception {
    String h = TestNarinfo.hash(101);
    byte[] nar = bytes(700_000, 1);
    cache("nix-cache", "team/x86", h, "nar/abc.nar.xz", nar, null);
    String url = "s3://nix-cache/team/x86?endpoint=" + s3.hostPort()
        + "&scheme=http&region=eu-west-1&profile=unused";
    NcroHarness n = ncro(List.of(s3Upstream(url, 10)), s3.secretKey());

    HttpResponse<byte[]> info = n.get("/" + h + ".narinfo");
    assertThat(info.statusCode()).as(body(info)).isEqualTo(200);
    assertThat(body(info)).contains("URL: nar/abc.nar.xz").contains("Sig: s3-test-1:");
    HttpResponse<byte[]> r = n.get("/nar/abc.nar.xz");
    assertThat(r.statusCode()).isEqualTo(200);
    assertThat(r.headers().firstValue("Content-Length")).hasValue("700000");
    assertThat(r.headers().firstValue("X-Ncro-Route")).hasValue("nar-route");
    assertThat(r.body()).isEqualTo(nar);
    HttpResponse<byte[]> range = HttpClient.newHttpClient()
        .send(
            HttpRequest.newBuilder(n.uri("/nar/abc.nar.xz"))
                .header("Range", "bytes=500000-")
                .build(),
            HttpResponse.BodyHandlers.ofByteArray());
    assertThat(range.statusCode()).isEqualTo(206);
    assertThat(range.headers().firstValue("Content-Range")).hasValue("bytes 500000-699999/700000");
    assertThat(range.body()).isEqualTo(Arrays.copyOfRange(nar, 500000, 700000));

    Upstream u = n.ncro().registry().all().get(0);
    assertThat(u.name())
        .as("named by its configured URL, without the profile")
        .isEqualTo(
            "s3://nix-cache/team/x86?region=eu-west-1&endpoint=" + s3.hostPort() + "&scheme=http");
    assertThat(n.ncro().store().get(h).orElseThrow().upstream()).isEqualTo(u.name());
    assertThat(n.ncro()
            .registry()
            .byUrl("s3://nix-cache/team/x86?scheme=http&endpoint=" + s3.hostPort()
                + "&region=eu-west-1"))
        .as("a peer's gossip names it by the same URL")
        .contains(u);
    Await.until("a probe of the bucket", () -> u.stats().lastProbeNanos() != 0);
    assertThat(u.stats().state()).isEqualTo(Health.ACTIVE);
    assertThat(u.stats().emaMillis()).isPositive();
    String status = body(n.get("/status"));
    assertThat(status)
        .contains("\"display\":\"s3://nix-cache/team/x86 @ " + s3.hostPort() + "\"")
        .contains("\"auth\":\"aws-sigv4\"")
        .contains("\"state\":\"active\"");
    assertNoSecret(n, s3.secretKey());
  }

  @Test
  void aBucketBehindAForwardProxyIsStillSignedForItsOwnHost() throws Exception {
    String h = TestNarinfo.hash(105);
    byte[] nar = bytes(300_000, 5);
    cache("nix-cache", "", h, "nar/p.nar.xz", nar, null);
    ForwardProxy proxy = open.keep(ForwardProxy.http(null, null));
    String url = "s3://nix-cache?endpoint=" + s3.hostPort() + "&scheme=http";
    NcroHarness n = open.keep(NcroHarness.start(
        NcroHarness.config(dir.resolve("routes.db"), List.of(s3Upstream(url, 10)))
            .withProxy(
                OutboundProxy.fromEnvironment(Map.of("http_proxy", proxy.url("http", null)))),
        S3Proxy.awsEnv(dir.resolve("home"), s3.secretKey())));

    HttpResponse<byte[]> info = n.get("/" + h + ".narinfo");
    assertThat(info.statusCode()).as(body(info)).isEqualTo(200);
    HttpResponse<byte[]> r = n.get("/nar/p.nar.xz");
    assertThat(r.statusCode()).isEqualTo(200);
    assertThat(r.body()).isEqualTo(nar);
    // Forwarded with the absolute URL; the signature covers the bucket's host and path, which the
    // proxy passes on unchanged.
    assertThat(proxy.log())
        .anySatisfy(l ->
            assertThat(l).contains("GET http://" + s3.hostPort() + "/nix-cache/" + h + ".narinfo"));
    assertNoSecret(n, s3.secretKey());
  }

  @Test
  void aWrongSecretIsUnauthorizedAnd503NotAnAbsentPath() throws Exception {
    String h = TestNarinfo.hash(102);
    cache("private", "", h, "nar/p.nar", bytes(10_000, 2), null);
    String wrong = "wrongSecret" + s3.secretKey().substring(11);
    NcroHarness n = ncro(
        List.of(s3Upstream("s3://private?endpoint=" + s3.hostPort() + "&scheme=http", 10)), wrong);
    Upstream u = n.ncro().registry().all().get(0);

    Await.until("the probe's refusal", () -> u.stats().state() == Health.UNAUTHORIZED);
    assertThat(u.stats().stateReason()).contains("SignatureDoesNotMatch");
    for (int i = 0; i < 3; i++) {
      assertThat(n.get("/" + h + ".narinfo").statusCode())
          .as("never a 404 Nix would remember")
          .isEqualTo(503);
      assertThat(n.get("/nar/p.nar").statusCode()).isEqualTo(503);
    }
    assertThat(body(n.get("/status"))).contains("\"state\":\"unauthorized\"");
    assertThat(body(n.get("/metrics")))
        .containsPattern(
            "ncro_upstream_errors_total\\{kind=\"auth\",upstream=\"s3://private[^\"]*\"} [1-9]");
    List<String> stateChanges =
        logs.lines().stream().filter(l -> l.contains("upstream state changed")).toList();
    assertThat(stateChanges).as("one log line per state change").hasSize(1);
    assertThat(stateChanges.get(0)).contains("unauthorized");
    assertNoSecret(n, wrong);
    assertNoSecret(n, s3.secretKey());
  }

  @Test
  void anUnknownAccessKeyIsUnauthorizedToo() throws Exception {
    cache("private", "", TestNarinfo.hash(103), "nar/q.nar", bytes(1000, 3), null);
    NcroHarness n = open.keep(NcroHarness.start(
        NcroHarness.config(
            dir.resolve("routes.db"),
            List.of(s3Upstream("s3://private?endpoint=" + s3.hostPort() + "&scheme=http", 10))),
        Map.of(
            "AWS_ACCESS_KEY_ID",
            "AKIAUNKNOWN000000000",
            "AWS_SECRET_ACCESS_KEY",
            s3.secretKey(),
            "HOME",
            dir.resolve("home").toString())));
    Upstream u = n.ncro().registry().all().get(0);
    Await.until("the probe's refusal", () -> u.stats().state() == Health.UNAUTHORIZED);
    assertThat(u.stats().stateReason()).contains("InvalidAccessKeyId");
    assertThat(n.get("/" + TestNarinfo.hash(103) + ".narinfo").statusCode()).isEqualTo(503);
  }

  @Test
  void aMissingObjectFallsThroughToTheOtherUpstreams() throws Exception {
    String onlyHttp = TestNarinfo.hash(104);
    String nowhere = TestNarinfo.hash(105);
    cache("cache", "", TestNarinfo.hash(106), "nar/other.nar", bytes(1000, 4), null);
    TestUpstream http = open.keep(TestUpstream.start());
    byte[] nar = bytes(50_000, 5);
    http.putNarinfo(onlyHttp, TestNarinfo.make(onlyHttp, "nar/http.nar", nar.length, KEY));
    http.putNar("/nar/http.nar", nar);
    NcroHarness n = ncro(
        List.of(
            s3Upstream("s3://cache?endpoint=" + s3.hostPort() + "&scheme=http", 10),
            new UpstreamConfig(http.uri(), 20, List.of(KEY.publicKey()))),
        s3.secretKey());

    assertThat(n.get("/" + onlyHttp + ".narinfo").statusCode()).isEqualTo(200);
    assertThat(n.get("/nar/http.nar").body()).isEqualTo(nar);
    assertThat(n.get("/" + nowhere + ".narinfo").statusCode())
        .as("absent everywhere")
        .isEqualTo(404);
    assertThat(n.get("/nar/nowhere.nar").statusCode()).isEqualTo(404);
    assertThat(n.ncro().registry().all().get(0).stats().state()).isEqualTo(Health.ACTIVE);
    assertThat(logs.lines()).noneMatch(l -> l.contains("unauthorized"));
  }

  @Test
  void aNarBrokenMidwayIsResumedWithRangeFromAnotherBucketWithTheSameFile() throws Exception {
    String h = TestNarinfo.hash(107);
    byte[] nar = bytes(3_000_000, 6);
    cache("near", "", h, "nar/same.nar.xz", nar, "sha256:samefile");
    cache("far", "", h, "nar/far-name.nar.xz", nar, "sha256:samefile");
    InetSocketAddress s3Address =
        new InetSocketAddress("127.0.0.1", s3.endpoint().getPort());
    CuttingRelay cutting = open.keep(CuttingRelay.start(s3Address));
    DelayRelay far = open.keep(DelayRelay.start(s3Address, Duration.ofMillis(150)));
    NcroHarness n = ncro(
        List.of(
            s3Upstream("s3://near?endpoint=" + cutting.hostPort() + "&scheme=http", 10),
            s3Upstream("s3://far?endpoint=127.0.0.1:" + far.port() + "&scheme=http", 20)),
        s3.secretKey());
    assertThat(n.get("/" + h + ".narinfo").headers().firstValue("X-Ncro-Upstream"))
        .hasValue(cutting.hostPort());

    cutting.cutAfter(1_000_000);
    HttpResponse<byte[]> r = n.get("/nar/same.nar.xz");
    assertThat(r.statusCode()).isEqualTo(200);
    assertThat(r.headers().firstValue("Content-Length")).hasValue("3000000");
    assertThat(r.body())
        .as("one seamless body, the rest from the far bucket by a signed Range request")
        .isEqualTo(nar);
    assertThat(logs.lines())
        .anyMatch(l -> l.contains("NAR resumed from another upstream") && l.contains("s3://far"));
  }

  /** Every log line of this test, with its key-value pairs and any exception text. */
  private void assertNoSecret(NcroHarness n, String secret) throws Exception {
    assertThat(logs.lines().stream().collect(Collectors.joining("\n")))
        .as("log")
        .doesNotContain(secret);
    assertThat(body(n.get("/status"))).as("/status").doesNotContain(secret);
    assertThat(body(n.get("/metrics"))).as("/metrics").doesNotContain(secret);
    HttpResponse<byte[]> page = n.get("/");
    assertThat(body(page)).as("status page").doesNotContain(secret);
  }
}

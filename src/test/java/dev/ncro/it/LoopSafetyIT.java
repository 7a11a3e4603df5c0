package dev.ncro.it;

import static org.assertj.core.api.Assertions.assertThat;

import dev.ncro.access.AccessPolicy;
import dev.ncro.config.Config;
import dev.ncro.config.ListenAddress;
import dev.ncro.config.ServerConfig;
import dev.ncro.config.TimeoutsConfig;
import dev.ncro.config.UpstreamConfig;
import dev.ncro.support.Await;
import dev.ncro.support.Closer;
import dev.ncro.support.NcroHarness;
import dev.ncro.support.TestKey;
import dev.ncro.support.TestNarinfo;
import dev.ncro.support.TestUpstream;
import dev.ncro.upstream.Upstream;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * Loop safety: ncro nodes that list each other as upstreams (directly, or around a chain) answer
 * at once instead of bouncing requests, because each hop carries {@code X-Ncro-Hop} and a node at
 * {@code server.max_hops} answers from its own store. A {@code spy} upstream shared by every node
 * records what reached a real cache, hop counts included.
 *
 * <p>"Promptly" is asserted without a clock: {@code timeouts.first_byte} is 1 s here, and a
 * request that bounced would have ended in a timeout, a 503; a 404 (or 200) means every node
 * answered without waiting for one.
 */
class LoopSafetyIT {
  @TempDir
  Path dir;

  @RegisterExtension
  final Closer open = new Closer();

  private final HttpClient http =
      HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build();
  private final TestKey key = new TestKey("test-1");

  @Test
  void twoNodesThatAreEachOthersUpstreamAnswerAMissWithOneRequestEach() throws Exception {
    TestUpstream spy = spy();
    int[] ports = freePorts(2);
    NcroHarness a = node("a", ports[0], 1, List.of(uri(ports[1]), spy.uri()));
    NcroHarness b = node("b", ports[1], 1, List.of(uri(ports[0]), spy.uri()));
    awaitReachable(a, b);
    String h = TestNarinfo.hash(7);

    HttpResponse<byte[]> r = a.get("/" + h + ".narinfo");
    assertThat(r.statusCode()).isEqualTo(404);
    assertThat(narinfoRequests(a)).isEqualTo(1); // the client's
    assertThat(narinfoRequests(b)).isEqualTo(1); // a's race leg, answered from b's store
    assertThat(spy.requestCount("/" + h + ".narinfo"))
        .isEqualTo(1); // a's race leg; b raced nothing
    assertThat(requestsFor(spy, h).get(0).headers()).containsEntry("x-ncro-hop", "1");
  }

  @Test
  void aNodeAtTheHopLimitServesItsStoredRouteAndItsNarButAsksNoOtherUpstream() throws Exception {
    TestUpstream spy = spy();
    String h = TestNarinfo.hash(8);
    byte[] body = TestNarinfo.make(h, "nar/" + h + ".nar.xz", 1000, key);
    spy.putNarinfo(h, body);
    spy.putNar("/nar/" + h + ".nar.xz", new byte[1000]);
    TestUpstream other = spy();
    NcroHarness b = node("b", 0, 1, List.of(spy.uri(), other.uri()));

    // At the limit, a path b has no route for is a 404 and asks nobody.
    HttpResponse<byte[]> miss = get(b, "/" + h + ".narinfo", "1");
    assertThat(miss.statusCode()).isEqualTo(404);
    assertThat(miss.headers().firstValue("X-Ncro-Route")).hasValue("hop-limit");
    assertThat(get(b, "/nar/" + h + ".nar.xz", "1").statusCode()).isEqualTo(404);
    assertThat(spy.requests()).noneMatch(q -> q.path().contains(h));
    assertThat(other.requests()).noneMatch(q -> q.path().contains(h));

    // A plain client's request races and stores the route...
    assertThat(b.get("/" + h + ".narinfo").statusCode()).isEqualTo(200);
    Await.until("the route is stored", () -> b.ncro().store().get(h).isPresent());
    int spyBefore = requestsFor(spy, h).size();
    int otherBefore = requestsFor(other, h).size();
    // ...which a request at the limit is then served from, without a request upstream,
    HttpResponse<byte[]> hit = get(b, "/" + h + ".narinfo", "1");
    assertThat(hit.statusCode()).isEqualTo(200);
    assertThat(hit.body()).isEqualTo(body);
    assertThat(requestsFor(spy, h)).hasSize(spyBefore);
    // and its NAR from the routed upstream alone, carrying the next hop count.
    HttpResponse<byte[]> nar = get(b, "/nar/" + h + ".nar.xz", "1");
    assertThat(nar.statusCode()).isEqualTo(200);
    assertThat(requestsFor(spy, h)).hasSize(spyBefore + 1);
    assertThat(requestsFor(spy, h).get(spyBefore).headers()).containsEntry("x-ncro-hop", "2");
    // One hop beyond the limit, not even that.
    HttpResponse<byte[]> beyond = get(b, "/nar/" + h + ".nar.xz", "2");
    assertThat(beyond.statusCode()).isEqualTo(404);
    assertThat(beyond.headers().firstValue("X-Ncro-Route")).hasValue("hop-limit");
    assertThat(requestsFor(spy, h)).hasSize(spyBefore + 1);
    assertThat(requestsFor(other, h)).hasSize(otherBefore);
  }

  @Test
  void aChainThatLoopsStopsAtMaxHops() throws Exception {
    TestUpstream spy = spy();
    int[] ports = freePorts(3);
    // a -> b -> c -> a, each also in front of the spy; two hops allowed.
    NcroHarness a = node("a", ports[0], 2, List.of(uri(ports[1]), spy.uri()));
    NcroHarness b = node("b", ports[1], 2, List.of(uri(ports[2]), spy.uri()));
    NcroHarness c = node("c", ports[2], 2, List.of(uri(ports[0]), spy.uri()));
    awaitReachable(a, b, c);
    String h = TestNarinfo.hash(9);

    HttpResponse<byte[]> r = a.get("/" + h + ".narinfo");
    assertThat(r.statusCode()).isEqualTo(404);
    // a (hop 0) races b and the spy with hop 1; b (hop 1) races c and the spy with hop 2; c (hop 2)
    // asks nobody.
    assertThat(narinfoRequests(a)).isEqualTo(1);
    assertThat(narinfoRequests(b)).isEqualTo(1);
    assertThat(narinfoRequests(c)).isEqualTo(1);
    assertThat(spy.requests().stream()
            .filter(q -> q.path().equals("/" + h + ".narinfo"))
            .map(q -> q.headers().get("x-ncro-hop"))
            .toList())
        .containsExactlyInAnyOrder("1", "2");
  }

  @Test
  void aMalformedHopHeaderIsRefusedAndReachesNoUpstream() throws Exception {
    TestUpstream spy = spy();
    NcroHarness n = node("n", 0, 1, List.of(spy.uri()));
    String h = TestNarinfo.hash(10);
    for (String bad : List.of("x", "-1", "1.5", "9999", "")) {
      assertThat(get(n, "/" + h + ".narinfo", bad).statusCode())
          .as("X-Ncro-Hop: %s", bad)
          .isEqualTo(400);
      assertThat(get(n, "/nar/" + h + ".nar.xz", bad).statusCode())
          .as("X-Ncro-Hop: %s", bad)
          .isEqualTo(400);
    }
    HttpResponse<byte[]> two = http.send(
        HttpRequest.newBuilder(n.uri("/" + h + ".narinfo"))
            .header("X-Ncro-Hop", "0")
            .header("X-Ncro-Hop", "0")
            .build(),
        HttpResponse.BodyHandlers.ofByteArray());
    assertThat(two.statusCode()).isEqualTo(400);
    assertThat(spy.requests()).noneMatch(q -> q.path().contains(h));
  }

  @Test
  void wantMassQueryIsAdvertisedAsConfigured() throws Exception {
    TestUpstream spy = spy();
    NcroHarness on = node("on", 0, 1, List.of(spy.uri()));
    assertThat(new String(on.get("/nix-cache-info").body(), StandardCharsets.UTF_8))
        .contains("WantMassQuery: 1\n");
    Config base = config("off", 0, 1, List.of(spy.uri()));
    ServerConfig s = base.server();
    NcroHarness off = start(new Config(
        new ServerConfig(
            s.listen(),
            s.readTimeout(),
            s.writeTimeout(),
            s.cachePriority(),
            s.access(),
            s.maxHops(),
            false),
        base.upstreams(),
        base.cache(),
        base.timeouts(),
        base.logging(),
        base.mesh()));
    assertThat(new String(off.get("/nix-cache-info").body(), StandardCharsets.UTF_8))
        .isEqualTo("StoreDir: /nix/store\nWantMassQuery: 0\nPriority: 30\n");
  }

  /** The first node's start-up probe found the other not yet listening: wait for the probe that finds it. */
  private static void awaitReachable(NcroHarness... nodes) throws InterruptedException {
    for (NcroHarness n : nodes) {
      Await.until(
          "every upstream of a node is available",
          () -> n.ncro().registry().all().stream().allMatch(Upstream::available));
    }
  }

  private static List<TestUpstream.Request> requestsFor(TestUpstream u, String hash) {
    return u.requests().stream().filter(q -> q.path().contains(hash)).toList();
  }

  private TestUpstream spy() throws Exception {
    return open.keep(TestUpstream.start());
  }

  private HttpResponse<byte[]> get(NcroHarness n, String path, String hop) throws Exception {
    return http.send(
        HttpRequest.newBuilder(n.uri(path))
            .header("X-Ncro-Hop", hop)
            .timeout(Duration.ofSeconds(20))
            .build(),
        HttpResponse.BodyHandlers.ofByteArray());
  }

  private static URI uri(int port) {
    return URI.create("http://127.0.0.1:" + port);
  }

  /** Ports free right now, for nodes that must name each other before either listens. */
  private static int[] freePorts(int n) throws Exception {
    List<ServerSocket> held = new ArrayList<>();
    try {
      int[] out = new int[n];
      for (int i = 0; i < n; i++) {
        ServerSocket s = new ServerSocket(0, 1, InetAddress.getLoopbackAddress());
        held.add(s);
        out[i] = s.getLocalPort();
      }
      return out;
    } finally {
      for (ServerSocket s : held) {
        s.close();
      }
    }
  }

  private Config config(String name, int port, int maxHops, List<URI> upstreams) {
    // Frequent probes: a node that started before its peer listened finds it soon after.
    Config base = NcroHarness.config(
        dir.resolve(name + ".db"),
        upstreams.stream()
            .map(u -> new UpstreamConfig(u, 10, List.of(key.publicKey())))
            .toList(),
        Duration.ofMillis(200));
    ServerConfig s = base.server();
    return new Config(
        new ServerConfig(
            new ListenAddress("127.0.0.1", port),
            s.readTimeout(),
            s.writeTimeout(),
            s.cachePriority(),
            AccessPolicy.OPEN,
            maxHops,
            true),
        base.upstreams(),
        base.cache(),
        // A bounced request would end in this timeout (a 503); the tests expect answers instead.
        new TimeoutsConfig(Duration.ofSeconds(1), Duration.ofSeconds(1), Duration.ofSeconds(1)),
        base.logging(),
        base.mesh());
  }

  private NcroHarness node(String name, int port, int maxHops, List<URI> upstreams)
      throws Exception {
    return start(config(name, port, maxHops, upstreams));
  }

  private NcroHarness start(Config c) throws Exception {
    return open.keep(NcroHarness.start(c));
  }

  /** Narinfo requests this node has answered, over all statuses. */
  private static long narinfoRequests(NcroHarness n) throws Exception {
    String metrics = new String(n.get("/metrics").body(), StandardCharsets.UTF_8);
    return metrics
        .lines()
        .filter(l -> l.startsWith("ncro_narinfo_requests_total{"))
        .mapToLong(l -> (long) Double.parseDouble(l.substring(l.lastIndexOf(' ') + 1)))
        .sum();
  }
}

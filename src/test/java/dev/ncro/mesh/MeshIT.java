package dev.ncro.mesh;

import static org.assertj.core.api.Assertions.assertThat;

import dev.ncro.config.Config;
import dev.ncro.config.MeshConfig;
import dev.ncro.support.Await;
import dev.ncro.support.Closer;
import dev.ncro.support.NcroHarness;
import dev.ncro.support.TestNarinfo;
import dev.ncro.support.TestUpstream;
import java.net.DatagramPacket;
import java.net.DatagramSocket;
import java.net.InetAddress;
import java.net.URI;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * Three real ncro nodes gossiping over loopback UDP: routes flow, a learned route spares a race,
 * a peer cannot redirect traffic to a host the local config does not list, and every forged,
 * unlisted or replayed packet is dropped and counted.
 */
class MeshIT {
  private static final Duration GOSSIP = Duration.ofMillis(200);

  @TempDir
  Path dir;

  @RegisterExtension
  final Closer open = new Closer();

  private static int freeUdpPort() throws Exception {
    try (DatagramSocket s = new DatagramSocket(0, InetAddress.getLoopbackAddress())) {
      return s.getLocalPort();
    }
  }

  private record Node(String name, int port, Path key, String publicKey) {}

  private Node node(String name) throws Exception {
    Path key = dir.resolve(name + ".key");
    return new Node(name, freeUdpPort(), key, NodeIdentity.loadOrCreate(key).publicKeyHex());
  }

  private NcroHarness start(Node self, List<URI> upstreams, List<Node> peers) throws Exception {
    Config base = NcroHarness.config(
        dir.resolve(self.name() + ".db"), NcroHarness.upstreams(upstreams, null));
    MeshConfig mesh = new MeshConfig(
        true,
        "127.0.0.1:" + self.port(),
        peers.stream()
            .map(p -> new MeshConfig.Peer("127.0.0.1:" + p.port(), p.publicKey()))
            .toList(),
        self.key().toString(),
        GOSSIP);
    return open.keep(NcroHarness.start(new Config(
        base.server(), base.upstreams(), base.cache(), base.timeouts(), base.logging(), mesh)));
  }

  private TestUpstream upstream() throws Exception {
    return open.keep(TestUpstream.start());
  }

  private static double metric(NcroHarness n, String series) throws Exception {
    String text = new String(n.get("/metrics").body(), StandardCharsets.UTF_8);
    return text.lines()
        .filter(l -> l.startsWith(series + " "))
        .findFirst()
        .map(l -> Double.parseDouble(l.substring(series.length() + 1)))
        .orElseThrow(() -> new AssertionError("no series " + series));
  }

  @Test
  void routesFlowAndALearnedRouteSparesTheRace() throws Exception {
    TestUpstream holder = upstream();
    TestUpstream other = upstream();
    TestUpstream unknownToC = upstream();
    String h = TestNarinfo.hash(200);
    byte[] info = TestNarinfo.make(h, "nar/m.nar", 10, null);
    holder.putNarinfo(h, info);
    Node a = node("a");
    Node b = node("b");
    Node c = node("c");
    NcroHarness na = start(a, List.of(holder.uri(), other.uri()), List.of(b, c));
    NcroHarness nb = start(b, List.of(holder.uri(), other.uri()), List.of(a, c));
    NcroHarness nc =
        start(c, List.of(unknownToC.uri(), other.uri()), List.of(a, b)); // C does not list `holder`

    assertThat(na.get("/" + h + ".narinfo").headers().firstValue("X-Ncro-Route"))
        .hasValue("race");
    Await.until("B learns A's route", () -> nb.ncro().mesh().status().routesLearned() > 0);
    Await.until("C hears A", () -> nc.ncro().mesh().status().routesLearned() > 0);

    int otherBefore = other.requestCount("/" + h + ".narinfo");
    int holderBefore = holder.requestCount("/" + h + ".narinfo");
    HttpResponse<byte[]> fromB = nb.get("/" + h + ".narinfo");
    assertThat(fromB.statusCode()).isEqualTo(200);
    assertThat(fromB.body()).isEqualTo(info);
    assertThat(fromB.headers().firstValue("X-Ncro-Route")).hasValue("mesh");
    assertThat(other.requestCount("/" + h + ".narinfo"))
        .as("B's other upstream is not asked")
        .isEqualTo(otherBefore);
    assertThat(holder.requestCount("/" + h + ".narinfo")).isEqualTo(holderBefore + 1);
    assertThat(metric(nb, "ncro_mesh_route_hits_total")).isEqualTo(1);

    // C learned a route naming an upstream it does not list: it must never contact that host.
    HttpResponse<byte[]> fromC = nc.get("/" + h + ".narinfo");
    assertThat(fromC.statusCode()).isEqualTo(404);
    assertThat(holder.requestCount("/" + h + ".narinfo"))
        .as("C never contacts a host it does not list")
        .isEqualTo(holderBefore + 1);
    assertThat(metric(nc, "ncro_mesh_route_hits_total")).isZero();

    assertThat(metric(nb, "ncro_mesh_packets_accepted_total")).isPositive();
    assertThat(metric(nb, "ncro_mesh_routes_merged_total")).isPositive();
    assertThat(new String(nb.get("/status").body(), StandardCharsets.UTF_8))
        .contains(
            "\"node_id\":\"" + b.publicKey().substring(0, 16) + "\"",
            "\"addr\":\"127.0.0.1:" + a.port() + "\"",
            "last_packet_at");
  }

  @Test
  void forgedUnlistedAndReplayedPacketsAreDroppedAndCounted() throws Exception {
    TestUpstream up = upstream();
    Node a = node("a");
    Node b = node("b");
    NcroHarness nb = start(b, List.of(up.uri()), List.of(a));
    NodeIdentity aId = NodeIdentity.loadOrCreate(a.key());
    NodeIdentity stranger = NodeIdentity.ephemeral();
    GossipRoute route = new GossipRoute(
        TestNarinfo.hash(300),
        up.uri().toString(),
        5,
        5,
        Instant.now(),
        0,
        0,
        Instant.now().plusSeconds(600),
        "",
        0,
        "");

    try (DatagramSocket s = new DatagramSocket(0, InetAddress.getLoopbackAddress())) {
      long now = Instant.now().toEpochMilli() * 1_000_000L;
      byte[] good = GossipCodec.seal(
          aId, new GossipMessage(GossipMessage.ANNOUNCE, aId.nodeId(), now, List.of(route)));
      byte[] forged = good.clone();
      forged[40] ^= 1; // inside the signature
      byte[] unlisted = GossipCodec.seal(
          stranger,
          new GossipMessage(GossipMessage.ANNOUNCE, stranger.nodeId(), now, List.of(route)));
      byte[] stale = GossipCodec.seal(
          aId,
          new GossipMessage(
              GossipMessage.ANNOUNCE,
              aId.nodeId(),
              now - Duration.ofMinutes(10).toNanos(),
              List.of(route)));
      byte[] garbage = new byte[50]; // shorter than the 96-byte header
      for (byte[] p : List.of(good, good, forged, unlisted, stale, garbage)) {
        s.send(new DatagramPacket(p, p.length, InetAddress.getLoopbackAddress(), b.port()));
      }
      Await.until("all six handled", () -> {
        try {
          return metric(nb, "ncro_mesh_packets_accepted_total")
                  + metric(nb, "ncro_mesh_packets_dropped_total{reason=\"bad_signature\"}")
                  + metric(nb, "ncro_mesh_packets_dropped_total{reason=\"unknown_sender\"}")
                  + metric(nb, "ncro_mesh_packets_dropped_total{reason=\"replay\"}")
                  + metric(nb, "ncro_mesh_packets_dropped_total{reason=\"malformed\"}")
              >= 6;
        } catch (Exception e) {
          throw new RuntimeException(e);
        }
      });
    }
    assertThat(metric(nb, "ncro_mesh_packets_accepted_total")).isEqualTo(1);
    assertThat(metric(nb, "ncro_mesh_packets_dropped_total{reason=\"replay\"}"))
        .as("the copy and the stale one")
        .isEqualTo(2);
    assertThat(metric(nb, "ncro_mesh_packets_dropped_total{reason=\"bad_signature\"}"))
        .isEqualTo(1);
    assertThat(metric(nb, "ncro_mesh_packets_dropped_total{reason=\"unknown_sender\"}"))
        .isEqualTo(1);
    assertThat(metric(nb, "ncro_mesh_packets_dropped_total{reason=\"malformed\"}"))
        .isEqualTo(1);
    assertThat(metric(nb, "ncro_mesh_packets_dropped_total{reason=\"oversize\"}"))
        .isZero();
    assertThat(nb.ncro().mesh().status().routesLearned()).isEqualTo(1);
  }

  @Test
  void aRestartWithTheSameKeyFileKeepsTheIdentity() throws Exception {
    TestUpstream up = upstream();
    Node a = node("a");
    NcroHarness first = start(a, List.of(up.uri()), List.of());
    String id = first.ncro().mesh().identity().publicKeyHex();
    first.close();
    open.remove(first);
    assertThat(Files.size(a.key())).isEqualTo(64);
    assertThat(Files.getPosixFilePermissions(a.key()))
        .extracting(Object::toString)
        .containsExactlyInAnyOrder("OWNER_READ", "OWNER_WRITE");
    NcroHarness second = start(a, List.of(up.uri()), List.of());
    assertThat(second.ncro().mesh().identity().publicKeyHex())
        .isEqualTo(id)
        .isEqualTo(a.publicKey());
  }
}

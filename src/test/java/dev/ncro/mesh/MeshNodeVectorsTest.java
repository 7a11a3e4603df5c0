package dev.ncro.mesh;

import static org.assertj.core.api.Assertions.assertThat;

import dev.ncro.config.MeshConfig;
import java.net.InetSocketAddress;
import java.time.Clock;
import java.time.Duration;
import java.time.ZoneOffset;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * The original's packets through a real node's admission checks, with the clock set to the
 * vectors' time: valid ones are accepted and merged, every invalid one is dropped and counted for
 * the reason its note gives.
 */
class MeshNodeVectorsTest {
  private static final InetSocketAddress FROM = new InetSocketAddress("127.0.0.1", 7946);
  private MeshNode node;

  @AfterEach
  void close() {
    if (node != null) {
      node.close();
    }
  }

  private MeshNode node(MeshStats stats, LearnedRoutes learned, Clock clock) throws Exception {
    String seed1 =
        HexFormat.of().formatHex(MeshVectors.named("announce-two-routes").publicKey());
    MeshConfig cfg = new MeshConfig(
        true,
        "127.0.0.1:0",
        List.of(new MeshConfig.Peer("127.0.0.1:1", seed1)),
        "",
        Duration.ofHours(1));
    node = MeshNode.start(cfg, NodeIdentity.ephemeral(), List::of, learned, stats, clock);
    return node;
  }

  @Test
  void vectorsAreAdmittedOrDroppedForTheReasonTheirNoteGives() throws Exception {
    MeshVectors.Vector two = MeshVectors.named("announce-two-routes");
    Clock clock = Clock.fixed(
        MeshVectors.instant(two.message().timestampNanos()).minusSeconds(5), ZoneOffset.UTC);
    MeshStats stats = new MeshStats(clock);
    LearnedRoutes learned = new LearnedRoutes(100, clock);
    MeshNode n = node(stats, learned, clock);

    n.receive(MeshVectors.named("announce-no-routes").packet(), FROM); // timestamp ...790: newest
    n.receive(two.packet(), FROM); // ...789: older than the last accepted from this sender
    assertThat(stats.accepted()).isEqualTo(1);
    assertThat(stats.dropped(DropReason.REPLAY)).isEqualTo(1);

    Map<String, DropReason> expected = Map.of(
        "announce-other-signer", DropReason.UNKNOWN_SENDER,
        "bad-signature", DropReason.BAD_SIGNATURE,
        "tampered-body", DropReason.BAD_SIGNATURE,
        "truncated", DropReason.MALFORMED,
        "garbage-body", DropReason.BAD_SIGNATURE);
    for (Map.Entry<String, DropReason> e : expected.entrySet()) {
      long before = stats.dropped(e.getValue());
      n.receive(MeshVectors.named(e.getKey()).packet(), FROM);
      assertThat(stats.dropped(e.getValue()))
          .as(e.getKey() + ": " + MeshVectors.named(e.getKey()).note())
          .isEqualTo(before + 1);
    }
    assertThat(stats.accepted()).isEqualTo(1);
  }

  @Test
  void aValidAnnounceMergesItsLiveRoutes() throws Exception {
    MeshVectors.Vector two = MeshVectors.named("announce-two-routes");
    Clock clock = Clock.fixed(
        MeshVectors.instant(two.message().timestampNanos()).plusSeconds(1), ZoneOffset.UTC);
    MeshStats stats = new MeshStats(clock);
    LearnedRoutes learned = new LearnedRoutes(100, clock);
    MeshNode n = node(stats, learned, clock);

    n.receive(two.packet(), FROM);
    assertThat(stats.accepted()).isEqualTo(1);
    assertThat(stats.routesReceived()).isEqualTo(2);
    assertThat(stats.routesMerged()).isEqualTo(2);
    assertThat(learned.upstreamFor("08lpj43znbvk594k15h07qv1xrhrpqpf"))
        .hasValue("https://cache.nixos.org");
    assertThat(learned.upstreamFor("2vqjx1ismanvhwxqw06kmxcl0f7hzyp7"))
        .hasValue("https://nix-community.cachix.org");
    assertThat(stats.heard()).containsKey(HexFormat.of().formatHex(two.publicKey()));
  }

  @Test
  void packetsFarFromNowAreReplays() throws Exception {
    MeshVectors.Vector two = MeshVectors.named("announce-two-routes");
    Clock clock = Clock.fixed(
        MeshVectors.instant(two.message().timestampNanos()).plus(Duration.ofHours(5)),
        ZoneOffset.UTC);
    MeshStats stats = new MeshStats(clock);
    MeshNode n = node(stats, new LearnedRoutes(100, clock), clock);
    n.receive(two.packet(), FROM);
    assertThat(stats.dropped(DropReason.REPLAY)).isEqualTo(1);
    assertThat(stats.accepted()).isZero();
  }
}

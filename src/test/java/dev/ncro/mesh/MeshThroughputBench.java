package dev.ncro.mesh;

import dev.ncro.config.MeshConfig;
import java.net.DatagramPacket;
import java.net.DatagramSocket;
import java.net.InetAddress;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Random;

/**
 * How fast a node learns routes: one sender blasts signed 16 KiB announces at a real node over
 * loopback UDP; the figure is routes merged per second, and the size of a 100-route announce.
 * Run with {@code bench/mesh/run}. Not a test: figures depend on the machine.
 */
public final class MeshThroughputBench {
  private MeshThroughputBench() {}

  public static void main(String[] args) throws Exception {
    int datagrams = args.length > 0 ? Integer.parseInt(args[0]) : 400;
    NodeIdentity sender = NodeIdentity.ephemeral();
    Clock clock = Clock.systemUTC();
    MeshStats stats = new MeshStats(clock);
    LearnedRoutes learned = new LearnedRoutes(1_000_000, clock);
    MeshConfig cfg = new MeshConfig(
        true,
        "127.0.0.1:0",
        List.of(new MeshConfig.Peer("127.0.0.1:9", sender.publicKeyHex())),
        "",
        Duration.ofHours(1));
    Random rnd = new Random(1);
    String alphabet = "0123456789abcdfghijklmnpqrsvwxyz";
    List<GossipRoute> routes = new ArrayList<>();
    for (int i = 0; i < datagrams * 45; i++) {
      StringBuilder h = new StringBuilder();
      for (int k = 0; k < 32; k++) {
        h.append(alphabet.charAt(rnd.nextInt(32)));
      }
      routes.add(new GossipRoute(
          h.toString(),
          "https://cache.nixos.org",
          12.5,
          14.25,
          Instant.now(),
          3,
          0,
          Instant.now().plusSeconds(3600),
          "sha256:1pkcxgbqj326qnzv54pcavgsndcv8n2rdg8ky5yjp5ys6l9133m0",
          127016,
          "nar/1sr0vd30v1wb2qf7ifikmpgpr6p48d9mfh6qyjm01d5gdw7dv55n.nar.xz"));
    }
    long t0 = System.nanoTime();
    List<byte[]> packets = GossipCodec.sealAnnounce(
        sender, System.currentTimeMillis() * 1_000_000L, routes, MeshNode.MAX_DATAGRAM);
    double sealMs = (System.nanoTime() - t0) / 1e6;
    byte[] hundred =
        GossipCodec.sealAnnounce(sender, 1, routes.subList(0, 100), 65_536).get(0);
    try (MeshNode node =
            MeshNode.start(cfg, NodeIdentity.ephemeral(), List::of, learned, stats, clock);
        DatagramSocket s = new DatagramSocket(0, InetAddress.getLoopbackAddress())) {
      s.setSendBufferSize(4 << 20);
      int port = node.localAddress().getPort();
      long start = System.nanoTime();
      for (byte[] p : packets) {
        s.send(new DatagramPacket(p, p.length, InetAddress.getLoopbackAddress(), port));
        Thread.sleep(MeshNode.PACING); // as a node paces its announces
      }
      long deadline = System.nanoTime() + Duration.ofSeconds(30).toNanos();
      while (stats.accepted() + stats.dropped(DropReason.REPLAY) < packets.size()
          && System.nanoTime() < deadline) {
        Thread.sleep(5);
      }
      double secs = (System.nanoTime() - start) / 1e9;
      System.out.printf("announce with 100 routes: %d bytes (one datagram)%n", hundred.length);
      System.out.printf(
          "sealed %d routes into %d datagrams of <= %d bytes in %.0f ms%n",
          routes.size(), packets.size(), MeshNode.MAX_DATAGRAM, sealMs);
      System.out.printf(
          "received %d datagrams, accepted %d, merged %d routes in %.2f s: %.0f routes/s, %.0f datagrams/s%n",
          packets.size(),
          stats.accepted(),
          stats.routesMerged(),
          secs,
          stats.routesMerged() / secs,
          stats.accepted() / secs);
      System.out.println(
          "sender " + HexFormat.of().formatHex(sender.publicKey()).substring(0, 16));
    }
  }
}

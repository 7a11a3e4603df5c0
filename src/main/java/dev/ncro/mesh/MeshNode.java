package dev.ncro.mesh;

import dev.ncro.config.ListenAddress;
import dev.ncro.config.MeshConfig;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.SocketAddress;
import java.net.StandardSocketOptions;
import java.nio.ByteBuffer;
import java.nio.channels.ClosedChannelException;
import java.nio.channels.DatagramChannel;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.function.Supplier;
import java.util.stream.Collectors;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A mesh node: one UDP socket, a receive loop that admits only well-formed, correctly signed,
 * fresh packets from allowed senders, and a timer that announces this node's recent routes to every
 * peer. Admission order is cheapest-first and each drop is counted by reason, so an operator can
 * tell a misconfigured peer (unknown_sender) from an attack (bad_signature, replay).
 *
 * <p>Ownership: the receive loop is the only reader of the socket and the only writer of
 * {@link #lastAccepted}; the timer thread is the only sender. Both end when {@link #close} closes
 * the channel.
 */
public final class MeshNode implements AutoCloseable {
  private static final Logger log = LoggerFactory.getLogger(MeshNode.class);
  /**
   * Announce datagrams stay at 16 KiB although 64 KiB would fit: a datagram travels as IP
   * fragments (about 12 at a 1500-byte MTU, 45 at 64 KiB) and losing any one loses it all, while
   * each datagram's routes are useful on their own. About 45 routes per datagram.
   */
  static final int MAX_DATAGRAM = 16_384;

  static final Duration PACING = Duration.ofMillis(2);

  private final MeshConfig config;
  private final NodeIdentity identity;
  private final Supplier<List<GossipRoute>> outgoing;
  private final LearnedRoutes learned;
  private final MeshStats stats;
  private final Clock clock;
  private final Set<String> allowedSenders;
  private final long freshnessNanos;
  private final ConcurrentHashMap<String, Long> lastAccepted = new ConcurrentHashMap<>();
  private final DatagramChannel channel;
  private final ScheduledExecutorService timer = Executors.newSingleThreadScheduledExecutor(
      Thread.ofPlatform().name("ncro-mesh-gossip").daemon(true).factory());
  private long lastSentTimestamp;

  private MeshNode(
      MeshConfig config,
      NodeIdentity identity,
      Supplier<List<GossipRoute>> outgoing,
      LearnedRoutes learned,
      MeshStats stats,
      Clock clock,
      DatagramChannel channel) {
    this.config = config;
    this.identity = identity;
    this.outgoing = outgoing;
    this.learned = learned;
    this.stats = stats;
    this.clock = clock;
    this.channel = channel;
    this.allowedSenders = config.peers().stream()
        .map(MeshConfig.Peer::publicKey)
        .filter(k -> !k.isEmpty())
        .collect(Collectors.toUnmodifiableSet());
    // "Fresh" = within a few gossip intervals of now (and never less than a minute, for clock
    // skew).
    this.freshnessNanos = Math.max(
        config.gossipInterval().multipliedBy(4).toNanos(), Duration.ofMinutes(1).toNanos());
  }

  /** Binds {@code mesh.bind_addr}, starts receiving, and announces every {@code gossip_interval}. */
  public static MeshNode start(
      MeshConfig config,
      NodeIdentity identity,
      Supplier<List<GossipRoute>> outgoing,
      LearnedRoutes learned,
      MeshStats stats,
      Clock clock)
      throws IOException {
    ListenAddress bind = ListenAddress.parse(config.bindAddr());
    DatagramChannel ch = DatagramChannel.open();
    // Best effort (the kernel caps it at net.core.rmem_max): room for a peer's whole announce.
    ch.setOption(StandardSocketOptions.SO_RCVBUF, 4 << 20);
    ch.bind(
        bind.host() == null
            ? new InetSocketAddress(bind.port())
            : new InetSocketAddress(bind.host(), bind.port()));
    MeshNode node = new MeshNode(config, identity, outgoing, learned, stats, clock, ch);
    Thread.ofPlatform().name("ncro-mesh-receive").daemon(true).start(node::receiveLoop);
    long every = config.gossipInterval().toMillis();
    node.timer.scheduleWithFixedDelay(node::announceSafely, every, every, TimeUnit.MILLISECONDS);
    log.atInfo()
        .setMessage("mesh node identity")
        .addKeyValue("node_id", identity.nodeId())
        .addKeyValue("public_key", identity.publicKeyHex())
        .addKeyValue("bind_addr", node.localAddress())
        .addKeyValue("peers", config.peers().size())
        .log();
    return node;
  }

  public InetSocketAddress localAddress() {
    try {
      return (InetSocketAddress) channel.getLocalAddress();
    } catch (IOException e) {
      return null;
    }
  }

  public NodeIdentity identity() {
    return identity;
  }

  /** Sends this node's recent routes to every peer now (also what the timer does). */
  public void announce() throws IOException {
    List<GossipRoute> routes = outgoing.get();
    List<byte[]> datagrams;
    synchronized (this) {
      long first = Math.max(nowNanos(), lastSentTimestamp + 1);
      datagrams = GossipCodec.sealAnnounce(identity, first, routes, MAX_DATAGRAM);
      lastSentTimestamp = first + datagrams.size() - 1;
    }
    for (MeshConfig.Peer peer : config.peers()) {
      ListenAddress a = ListenAddress.parse(peer.addr());
      InetSocketAddress to =
          new InetSocketAddress(a.host() == null ? "127.0.0.1" : a.host(), a.port());
      if (to.isUnresolved()) {
        log.atWarn()
            .setMessage("mesh peer address does not resolve")
            .addKeyValue("peer", peer.addr())
            .log();
        continue;
      }
      for (byte[] d : datagrams) {
        channel.send(ByteBuffer.wrap(d), to);
        stats.sent(d.length);
        pace();
      }
    }
  }

  /**
   * A receiver checks one signature per datagram (about a millisecond) and the kernel's default
   * receive buffer holds only ~200 KB: a back-to-back burst of a large announce would mostly be
   * dropped. Spacing datagrams {@link #PACING} apart keeps a whole announce receivable.
   */
  private static void pace() {
    try {
      Thread.sleep(PACING);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }

  private void announceSafely() {
    try {
      announce();
    } catch (IOException | RuntimeException e) {
      log.atWarn()
          .setMessage("mesh announce failed")
          .addKeyValue("error", String.valueOf(e))
          .log();
    }
  }

  private void receiveLoop() {
    ByteBuffer buf = ByteBuffer.allocate(65_536 + 1); // one byte more than allowed: oversize shows
    while (channel.isOpen()) {
      SocketAddress from;
      try {
        buf.clear();
        from = channel.receive(buf);
      } catch (ClosedChannelException e) {
        return;
      } catch (IOException e) {
        log.atWarn()
            .setMessage("mesh receive failed")
            .addKeyValue("error", e.getMessage())
            .log();
        continue;
      }
      buf.flip();
      byte[] packet = new byte[buf.remaining()];
      buf.get(packet);
      receive(packet, from);
    }
  }

  /** Admits or drops one datagram. Never throws: a hostile packet must not stop the loop. */
  void receive(byte[] packet, SocketAddress from) {
    try {
      // Cheapest checks first: an unlisted sender costs no signature verification (~1 ms).
      String sender = HexFormat.of().formatHex(GossipCodec.peekSender(packet, packet.length));
      if (sender.equals(identity.publicKeyHex())) {
        return; // our own announce, e.g. a peer list that includes this node
      }
      if (!allowedSenders.isEmpty() && !allowedSenders.contains(sender)) {
        throw new PacketException(
            DropReason.UNKNOWN_SENDER, "sender " + sender + " is not a configured peer key");
      }
      GossipCodec.Opened opened = GossipCodec.open(packet, packet.length);
      long ts = opened.message().timestampNanos();
      if (Math.abs(ts - nowNanos()) > freshnessNanos) {
        throw new PacketException(DropReason.REPLAY, "timestamp too far from now");
      }
      Long last = lastAccepted.get(sender);
      if (last != null && ts <= last) {
        throw new PacketException(DropReason.REPLAY, "timestamp not newer than the last accepted");
      }
      lastAccepted.put(sender, ts);
      int merged = 0;
      for (GossipRoute r : opened.message().routes()) {
        if (learned.merge(r, opened.message().nodeId())) {
          merged++;
        }
      }
      stats.accepted(sender, from, opened.message().routes().size(), merged);
    } catch (PacketException e) {
      stats.countDrop(e.reason());
      log.atDebug()
          .setMessage("mesh packet dropped")
          .addKeyValue("reason", e.reason().label())
          .addKeyValue("from", String.valueOf(from))
          .addKeyValue("detail", e.getMessage())
          .log();
    } catch (RuntimeException e) {
      stats.countDrop(DropReason.MALFORMED);
      log.atWarn()
          .setMessage("mesh packet dropped")
          .addKeyValue("reason", "malformed")
          .addKeyValue("from", String.valueOf(from))
          .addKeyValue("error", String.valueOf(e))
          .log();
    }
  }

  private long nowNanos() {
    Instant now = clock.instant();
    return now.getEpochSecond() * 1_000_000_000L + now.getNano();
  }

  /** One configured peer as {@code /status} shows it; {@code lastHeard} is null before any packet. */
  public record PeerStatus(String addr, String publicKey, Instant lastHeard) {}

  /** The mesh part of {@code /status}. */
  public record Status(
      String nodeId,
      String publicKey,
      String bindAddr,
      List<PeerStatus> peers,
      int routesLearned) {}

  public Status status() {
    Map<String, MeshStats.Heard> heard = stats.heard();
    List<PeerStatus> peers = new ArrayList<>();
    for (MeshConfig.Peer p : config.peers()) {
      MeshStats.Heard h =
          p.publicKey().isEmpty() ? heardFrom(heard, p.addr()) : heard.get(p.publicKey());
      peers.add(new PeerStatus(p.addr(), p.publicKey(), h == null ? null : h.at()));
    }
    return new Status(
        identity.nodeId(),
        identity.publicKeyHex(),
        String.valueOf(localAddress()),
        peers,
        learned.size());
  }

  /** For a peer without a key: the sender last heard from its address. */
  private static MeshStats.Heard heardFrom(Map<String, MeshStats.Heard> heard, String addr) {
    ListenAddress a = ListenAddress.parse(addr);
    String resolved =
        String.valueOf(new InetSocketAddress(a.host() == null ? "127.0.0.1" : a.host(), a.port()));
    return heard.values().stream()
        .filter(h -> h.address().equals(resolved))
        .findFirst()
        .orElse(null);
  }

  @Override
  public void close() {
    timer.shutdownNow();
    try {
      channel.close();
    } catch (IOException e) {
      log.atWarn()
          .setMessage("closing mesh socket")
          .addKeyValue("error", e.getMessage())
          .log();
    }
  }
}

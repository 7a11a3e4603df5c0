package dev.ncro.mesh;

import java.net.SocketAddress;
import java.time.Clock;
import java.time.Instant;
import java.util.EnumMap;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.LongAdder;

/**
 * What the mesh did, for {@code /metrics} and {@code /status}: packets sent, accepted and dropped
 * (by reason), routes received and merged, and when each sender was last heard from. Plain adders
 * written by the node's threads and read at scrape time.
 */
public final class MeshStats {
  /** The last accepted packet from one sender. */
  public record Heard(String publicKeyHex, String address, Instant at) {}

  private final Clock clock;
  private final EnumMap<DropReason, LongAdder> dropped = new EnumMap<>(DropReason.class);
  private final LongAdder accepted = new LongAdder();
  private final LongAdder routesReceived = new LongAdder();
  private final LongAdder routesMerged = new LongAdder();
  private final LongAdder sent = new LongAdder();
  private final LongAdder bytesSent = new LongAdder();
  private final ConcurrentHashMap<String, Heard> heard = new ConcurrentHashMap<>();

  public MeshStats(Clock clock) {
    this.clock = clock;
    for (DropReason r : DropReason.values()) {
      dropped.put(r, new LongAdder());
    }
  }

  void countDrop(DropReason reason) {
    dropped.get(reason).increment();
  }

  void accepted(String senderHex, SocketAddress from, int routes, int merged) {
    accepted.increment();
    routesReceived.add(routes);
    routesMerged.add(merged);
    heard.put(senderHex, new Heard(senderHex, String.valueOf(from), clock.instant()));
  }

  void sent(int bytes) {
    sent.increment();
    bytesSent.add(bytes);
  }

  public long dropped(DropReason reason) {
    return dropped.get(reason).sum();
  }

  public long accepted() {
    return accepted.sum();
  }

  public long routesReceived() {
    return routesReceived.sum();
  }

  public long routesMerged() {
    return routesMerged.sum();
  }

  public long sent() {
    return sent.sum();
  }

  public long bytesSent() {
    return bytesSent.sum();
  }

  /** Last packet per sender public key (hex). */
  public Map<String, Heard> heard() {
    return Map.copyOf(heard);
  }
}

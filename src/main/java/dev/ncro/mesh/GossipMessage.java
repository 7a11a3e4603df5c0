package dev.ncro.mesh;

import java.util.List;

/**
 * The body of a gossip packet: [Type] 1 = announce, [NodeID] hex of the first 8 bytes of the
 * sender's public key, [Timestamp] unix nanoseconds (strictly increasing per sender: receivers drop
 * anything not newer than the last accepted), [Routes] newest first.
 */
public record GossipMessage(
    int type, String nodeId, long timestampNanos, List<GossipRoute> routes) {
  public static final int ANNOUNCE = 1;

  public GossipMessage {
    routes = List.copyOf(routes);
  }
}

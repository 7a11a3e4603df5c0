package dev.ncro.mesh;

import java.util.ArrayList;
import java.util.List;

/**
 * Splits one announce's routes into as few bodies as fit the datagram limit, in order: a node
 * announces hundreds of routes and a datagram carries about 45 at the 16 KiB the node uses, so an
 * announce is several datagrams. Body i carries timestamp {@code first + i}, because receivers drop
 * a packet not newer than the last they accepted from the sender.
 *
 * <p>Each route is encoded once and packing is one greedy pass: with contiguous groups in a fixed
 * order, filling each as far as it goes gives the fewest groups. Signing is not its business
 * ({@link PacketSealer} signs the bodies), so it works in body bytes.
 */
final class AnnouncePacker {
  private AnnouncePacker() {}

  /** Bytes of an announce body with no routes from {@code nodeId}: the least room that works. */
  static int emptyBodySize(String nodeId) {
    return GossipBodyWriter.announceHeadSize(nodeId) + GossipBodyWriter.arrayHeaderSize(0);
  }

  /**
   * The announce bodies for {@code newestFirst}, each at most {@code maxBodyBytes} long, datagram 0
   * carrying the newest. Always at least one body: with no routes (or none that fits), a single
   * announce with an empty route list. A route that cannot fit even alone is left out.
   *
   * @throws IllegalArgumentException when {@code maxBodyBytes} is below {@link #emptyBodySize},
   *     when the timestamps would overflow, or for a route value the writer refuses
   */
  static List<byte[]> bodies(
      String nodeId, long firstTimestampNanos, List<GossipRoute> newestFirst, int maxBodyBytes) {
    int headSize = GossipBodyWriter.announceHeadSize(nodeId);
    if (maxBodyBytes < headSize + GossipBodyWriter.arrayHeaderSize(0)) {
      throw new IllegalArgumentException(
          "room for " + maxBodyBytes + " body bytes is below an empty announce body");
    }
    List<List<byte[]>> groups =
        group(GossipBodyWriter.encodeRoutes(newestFirst), headSize, maxBodyBytes);
    if (firstTimestampNanos > Long.MAX_VALUE - (groups.size() - 1)) {
      throw new IllegalArgumentException(
          "timestamps " + firstTimestampNanos + " + " + (groups.size() - 1) + " overflow");
    }
    List<byte[]> bodies = new ArrayList<>(groups.size());
    for (int i = 0; i < groups.size(); i++) {
      byte[] body = GossipBodyWriter.announce(nodeId, firstTimestampNanos + i, groups.get(i));
      if (body.length > maxBodyBytes) { // the size arithmetic in group() is wrong: a bug
        throw new IllegalStateException(
            "announce body of " + body.length + " bytes exceeds " + maxBodyBytes);
      }
      bodies.add(body);
    }
    return bodies;
  }

  /** Greedy in order; never empty (one empty group when nothing fits). */
  private static List<List<byte[]>> group(List<byte[]> encoded, int headSize, int maxBodyBytes) {
    List<List<byte[]>> groups = new ArrayList<>();
    List<byte[]> current = new ArrayList<>();
    long currentRouteBytes = 0;
    for (byte[] route : encoded) {
      if (headSize + GossipBodyWriter.arrayHeaderSize(1) + route.length > maxBodyBytes) {
        continue; // cannot fit even alone: skipped, see bodies()
      }
      long withIt = headSize
          + GossipBodyWriter.arrayHeaderSize(current.size() + 1)
          + currentRouteBytes
          + route.length;
      if (!current.isEmpty() && withIt > maxBodyBytes) {
        groups.add(current);
        current = new ArrayList<>();
        currentRouteBytes = 0;
      }
      current.add(route);
      currentRouteBytes += route.length;
    }
    if (!current.isEmpty() || groups.isEmpty()) {
      groups.add(current);
    }
    return groups;
  }
}

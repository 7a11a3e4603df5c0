package dev.ncro.mesh;

import static dev.ncro.mesh.GossipWire.HEADER_BYTES;
import static dev.ncro.mesh.GossipWire.MAX_PACKET_BYTES;

import java.util.ArrayList;
import java.util.List;
import java.util.Objects;

/**
 * Turns bodies into datagrams: {@code [public key][signature of the body][body]}, signed by this
 * node. It is the one place that signs, and it refuses what a receiver would drop (a message
 * carrying another node's ID, a datagram over the size limit) so that such a packet is a bug found
 * here rather than a silent drop on every peer.
 */
final class PacketSealer {
  private PacketSealer() {}

  /** See {@link GossipCodec#seal}. */
  static byte[] seal(NodeIdentity id, GossipMessage m) {
    Objects.requireNonNull(id, "id");
    Objects.requireNonNull(m, "message");
    if (!id.nodeId().equals(m.nodeId())) {
      throw new IllegalArgumentException(
          "message NodeID " + m.nodeId() + " is not the signer's node ID " + id.nodeId());
    }
    byte[] packet = assemble(id, GossipBodyWriter.encode(m));
    if (packet.length > MAX_PACKET_BYTES) {
      throw new IllegalArgumentException("packet of "
          + packet.length
          + " bytes exceeds "
          + MAX_PACKET_BYTES
          + "; split the routes with sealAnnounce");
    }
    return packet;
  }

  /** See {@link GossipCodec#sealAnnounce}. */
  static List<byte[]> sealAnnounce(
      NodeIdentity id,
      long firstTimestampNanos,
      List<GossipRoute> newestFirst,
      int maxDatagramBytes) {
    Objects.requireNonNull(id, "id");
    Objects.requireNonNull(newestFirst, "newestFirst");
    if (maxDatagramBytes > MAX_PACKET_BYTES) {
      throw new IllegalArgumentException(
          "maxDatagramBytes " + maxDatagramBytes + " exceeds " + MAX_PACKET_BYTES);
    }
    int emptyAnnounce = HEADER_BYTES + AnnouncePacker.emptyBodySize(id.nodeId());
    if (maxDatagramBytes < emptyAnnounce) {
      throw new IllegalArgumentException("maxDatagramBytes " + maxDatagramBytes
          + " is below an empty announce (" + emptyAnnounce + ")");
    }
    List<byte[]> bodies = AnnouncePacker.bodies(
        id.nodeId(), firstTimestampNanos, newestFirst, maxDatagramBytes - HEADER_BYTES);
    List<byte[]> packets = new ArrayList<>(bodies.size());
    for (byte[] body : bodies) {
      packets.add(assemble(id, body));
    }
    return packets;
  }

  private static byte[] assemble(NodeIdentity id, byte[] body) {
    byte[] packet = new byte[HEADER_BYTES + body.length];
    System.arraycopy(id.publicKey(), 0, packet, 0, NodeIdentity.PUBLIC_KEY_BYTES);
    System.arraycopy(
        id.sign(body), 0, packet, NodeIdentity.PUBLIC_KEY_BYTES, NodeIdentity.SIGNATURE_BYTES);
    System.arraycopy(body, 0, packet, HEADER_BYTES, body.length);
    return packet;
  }
}

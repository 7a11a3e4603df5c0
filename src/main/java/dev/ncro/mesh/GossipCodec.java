package dev.ncro.mesh;

import java.util.Arrays;
import java.util.HexFormat;
import java.util.List;
import java.util.Objects;

/**
 * The mesh wire format of the original Go ncro (DESIGN.md section 5), so that ncro nodes and
 * original nodes can gossip with each other: a UDP datagram of at most {@value #MAX_PACKET_BYTES}
 * bytes, {@code [32-byte sender ed25519 public key][64-byte signature of the body][msgpack body]}.
 *
 * <p>This is the format's one public entry, and it opens packets itself, since opening is the
 * trust boundary and reads best in one place. The rest lives by concern: the facts of the format in
 * {@link GossipWire}, bodies written byte for byte as Go writes them by {@link GossipBodyWriter},
 * read from hostile bytes by {@link GossipBodyReader} (over {@link BoundedUnpacker}), an announce
 * split into datagrams by {@link AnnouncePacker}, and signed by {@link PacketSealer}. None of them
 * depends on this class.
 *
 * <p>The body is a map keyed by the original's Go field names: {@code Type} (uint8, 1 = announce),
 * {@code NodeID} (string), {@code Timestamp} (int64 unix nanoseconds), {@code Routes} (array of
 * route maps, or nil when empty). A route map has {@code StorePath}, {@code UpstreamURL} (strings),
 * {@code LatencyMs}, {@code LatencyEMA} (float64), {@code LastVerified} (timestamp),
 * {@code QueryCount}, {@code FailureCount} (uint32), {@code TTL} (timestamp: the absolute expiry),
 * {@code NarHash} (string), {@code NarSize} (uint64), {@code NarURL} (string).
 *
 * <p>Decoding is written for hostile input: only {@link PacketException} comes out, every length
 * field is checked against the bytes actually left before anything is allocated or skipped, and no
 * recursion depends on the input, so time and memory stay linear in the packet's size.
 *
 * <p>Stateless: all methods are static and thread-safe.
 */
public final class GossipCodec {
  /** Longest datagram accepted; a longer one is dropped as {@link DropReason#OVERSIZE}. */
  public static final int MAX_PACKET_BYTES = GossipWire.MAX_PACKET_BYTES;
  /** Public key and signature in front of the body. */
  public static final int HEADER_BYTES = GossipWire.HEADER_BYTES;

  private static final HexFormat HEX = HexFormat.of();

  private GossipCodec() {}

  /**
   * A packet that verified and decoded.
   *
   * @param senderPublicKey the raw 32-byte key the packet was signed with: the node checks it
   *     against its configured peers ({@link DropReason#UNKNOWN_SENDER})
   * @param message the decoded body; its {@code nodeId} is that of {@code senderPublicKey}
   */
  public record Opened(byte[] senderPublicKey, GossipMessage message) {
    /** The sender's key as 64 lower-case hex characters, the form peers are configured with. */
    public String senderPublicKeyHex() {
      return HEX.formatHex(senderPublicKey);
    }
  }

  // ---------------------------------------------------------------------------------- encoding

  /**
   * The msgpack body of {@code m}, byte for byte what the original would send for the same values.
   * An empty route list is encoded as nil, as Go encodes an empty (nil) slice.
   *
   * @throws IllegalArgumentException for values the wire cannot carry: a type outside 0..255, a
   *     null string or time, a string that is not valid Unicode (unpaired surrogate), a negative
   *     {@code narSize}. Counters outside 0..2<sup>32</sup>-1 (the original's uint32) are clamped
   *     into that range rather than refused.
   */
  public static byte[] encodeBody(GossipMessage m) {
    return GossipBodyWriter.encode(m);
  }

  /**
   * {@code [public key][signature of the body][body]} for {@code m}, signed by {@code id}.
   *
   * @throws IllegalArgumentException when {@code m.nodeId()} is not {@code id}'s node ID (the
   *     receiver would drop it), when the packet would exceed {@value #MAX_PACKET_BYTES} bytes (use
   *     {@link #sealAnnounce}), or for the reasons of {@link #encodeBody}
   */
  public static byte[] seal(NodeIdentity id, GossipMessage m) {
    return PacketSealer.seal(id, m);
  }

  /**
   * Announces {@code newestFirst} in as few datagrams as possible, each at most
   * {@code maxDatagramBytes} long, routes kept in the given order (datagram 0 carries the newest).
   *
   * <p>Datagram {@code i} has {@code Timestamp = firstTimestampNanos + i}: receivers drop a packet
   * whose timestamp is not newer than the last they accepted from the sender, so the datagrams of
   * one announce must not share a timestamp. The caller's next announce must therefore start above
   * {@code firstTimestampNanos + result.size() - 1}.
   *
   * <p>There is always at least one datagram: with no routes (or none that fits), a single announce
   * with an empty route list. A route whose encoding alone cannot fit in one datagram (only possible
   * with absurdly long strings: a realistic route is about 300 bytes) is left out rather than
   * failing the whole announce; {@link #encodedRouteSize} tells the caller which ones.
   *
   * <p>Each route is encoded once; packing is a single pass, so the cost is linear in the routes.
   *
   * @param maxDatagramBytes the node uses 16 384; at most {@value #MAX_PACKET_BYTES}, and at least
   *     enough for an empty announce (about 160 bytes)
   * @throws IllegalArgumentException for a bad {@code maxDatagramBytes}, for timestamps that would
   *     overflow, or for a route value {@link #encodeBody} refuses
   */
  public static List<byte[]> sealAnnounce(
      NodeIdentity id,
      long firstTimestampNanos,
      List<GossipRoute> newestFirst,
      int maxDatagramBytes) {
    return PacketSealer.sealAnnounce(id, firstTimestampNanos, newestFirst, maxDatagramBytes);
  }

  /** Bytes {@code route} takes in a body (what {@link #sealAnnounce} packs). */
  public static int encodedRouteSize(GossipRoute route) {
    return GossipBodyWriter.encodeRoutes(List.of(route)).get(0).length;
  }

  // ---------------------------------------------------------------------------------- decoding

  /**
   * Verifies and decodes the first {@code length} bytes of {@code packet} (a receive buffer may be
   * longer than the datagram). Checks, in this order: size ({@link DropReason#OVERSIZE} above
   * {@value #MAX_PACKET_BYTES}, {@link DropReason#MALFORMED} below {@value #HEADER_BYTES}); the
   * signature against the packet's own public key, before the body is parsed at all, so that
   * unauthenticated bytes never reach the decoder ({@link DropReason#BAD_SIGNATURE}); the body
   * ({@link DropReason#MALFORMED}, see {@link #decodeBody}); and that the body's {@code NodeID} is
   * the sender key's node ID.
   *
   * <p>A {@code NodeID} that does not match the signing key is {@link DropReason#MALFORMED}, not
   * {@code BAD_SIGNATURE}: the signature is cryptographically valid, so nothing was tampered with
   * in transit; the holder of that key itself produced an inconsistent message (a bug, or a peer
   * claiming another node's ID), which is a message that is not of the protocol's shape.
   * {@code bad_signature} keeps meaning "altered, or signed by another key than the one carried".
   *
   * <p>Whether the sender is a configured peer ({@link DropReason#UNKNOWN_SENDER}) and whether the
   * timestamp is fresh ({@link DropReason#REPLAY}) is for the caller to decide. A node whose peers
   * all have keys should check {@link #peekSender} against them <em>before</em> calling this, so
   * that junk from unknown senders costs no signature verification.
   *
   * @throws IllegalArgumentException when {@code length} is negative or beyond {@code packet}: a
   *     caller bug, not a bad packet
   */
  public static Opened open(byte[] packet, int length) throws PacketException {
    byte[] sender = peekSender(packet, length);
    byte[] signature = Arrays.copyOfRange(packet, NodeIdentity.PUBLIC_KEY_BYTES, HEADER_BYTES);
    byte[] body = Arrays.copyOfRange(packet, HEADER_BYTES, length);
    if (!NodeIdentity.verify(sender, body, signature)) {
      throw new PacketException(
          DropReason.BAD_SIGNATURE,
          "signature does not verify against the packet's key " + HEX.formatHex(sender));
    }
    GossipMessage message = decodeBody(body);
    String expected = NodeIdentity.nodeIdOf(sender);
    if (!expected.equals(message.nodeId())) {
      throw new PacketException(
          DropReason.MALFORMED,
          "NodeID \"" + abbreviate(message.nodeId()) + "\" is not the signing key's node ID "
              + expected);
    }
    return new Opened(sender, message);
  }

  /**
   * The claimed sender key of a datagram (a copy of its first 32 bytes), after the same size
   * checks as {@link #open} and nothing else: the signature is <em>not</em> verified. It lets a node
   * whose peers all have keys drop {@link DropReason#UNKNOWN_SENDER} before paying for a signature
   * verification (about 75 µs each with BouncyCastle, 600 µs with the JDK), so that junk datagrams
   * from strangers cost the node next to nothing.
   *
   * @throws PacketException {@link DropReason#OVERSIZE} above {@value #MAX_PACKET_BYTES} bytes,
   *     {@link DropReason#MALFORMED} below {@value #HEADER_BYTES}
   * @throws IllegalArgumentException when {@code length} is negative or beyond {@code packet}
   */
  public static byte[] peekSender(byte[] packet, int length) throws PacketException {
    Objects.requireNonNull(packet, "packet");
    if (length < 0 || length > packet.length) {
      throw new IllegalArgumentException(
          "length " + length + " outside the buffer of " + packet.length + " bytes");
    }
    if (length > MAX_PACKET_BYTES) {
      throw new PacketException(
          DropReason.OVERSIZE, length + " bytes, more than " + MAX_PACKET_BYTES);
    }
    if (length < HEADER_BYTES) {
      throw new PacketException(
          DropReason.MALFORMED,
          length + " bytes, shorter than the " + HEADER_BYTES + "-byte key and signature header");
    }
    return Arrays.copyOfRange(packet, 0, NodeIdentity.PUBLIC_KEY_BYTES);
  }

  /**
   * Decodes a body. Accepted, as the original's decoder accepts them: keys in any order, unknown
   * keys (skipped, whatever their value), {@code Routes} as nil or an array, any msgpack integer
   * width for integers, integers and float32 where a float64 is expected, and the timestamp
   * extension in its 4, 8 and 12-byte forms.
   *
   * <p>Refused as {@link DropReason#MALFORMED}, stricter than the original where the original
   * would silently zero a field: a missing or repeated key, a value of the wrong msgpack type
   * (including nil anywhere but {@code Routes}), a {@code Type} other than 1, integers out of the
   * original's range ({@code QueryCount}/{@code FailureCount} 0..2<sup>32</sup>-1,
   * {@code NarSize} 0..2<sup>63</sup>-1), a timestamp with more than 999 999 999 nanoseconds or
   * beyond {@link java.time.Instant}'s range, strings that are not valid UTF-8, truncated input,
   * and trailing bytes after the map.
   *
   * <p>Values are not judged (NaN latencies, an {@code UpstreamURL} that is not configured locally,
   * a {@code StorePath} that is not a store path hash): that is the merge's business.
   *
   * @throws PacketException always with {@link DropReason#MALFORMED}; nothing else escapes
   */
  public static GossipMessage decodeBody(byte[] body) throws PacketException {
    return GossipBodyReader.decode(body);
  }

  /** Peer-controlled text in a log message: at most 40 characters. */
  private static String abbreviate(String s) {
    return s.length() <= 40 ? s : s.substring(0, 40) + "...";
  }
}

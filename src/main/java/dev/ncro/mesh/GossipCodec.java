package dev.ncro.mesh;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.CharBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.time.DateTimeException;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.List;
import java.util.Objects;
import org.msgpack.core.ExtensionTypeHeader;
import org.msgpack.core.MessageBufferPacker;
import org.msgpack.core.MessageFormat;
import org.msgpack.core.MessageInsufficientBufferException;
import org.msgpack.core.MessageIntegerOverflowException;
import org.msgpack.core.MessagePack;
import org.msgpack.core.MessagePackException;
import org.msgpack.core.MessagePacker;
import org.msgpack.core.MessageUnpacker;
import org.msgpack.value.ValueType;

/**
 * The mesh wire format of the original Go ncro (DESIGN.md section 5), so that ncro nodes and
 * original nodes can gossip with each other: a UDP datagram of at most {@value #MAX_PACKET_BYTES}
 * bytes, {@code [32-byte sender ed25519 public key][64-byte signature of the body][msgpack body]}.
 *
 * <p>The body is what Go's {@code vmihailenco/msgpack/v5} makes of the original's structs: a map
 * keyed by field name, {@code Type} (uint8, 1 = announce), {@code NodeID} (string),
 * {@code Timestamp} (int64 unix nanoseconds), {@code Routes} (array of route maps, or nil when
 * empty). A route map has {@code StorePath}, {@code UpstreamURL} (strings), {@code LatencyMs},
 * {@code LatencyEMA} (float64), {@code LastVerified} (timestamp), {@code QueryCount},
 * {@code FailureCount} (uint32), {@code TTL} (timestamp: the absolute expiry), {@code NarHash}
 * (string), {@code NarSize} (uint64), {@code NarURL} (string). Times are the msgpack timestamp
 * extension (type -1). The encoder uses Go's fixed-width integer formats ({@code cc}, {@code ce},
 * {@code cf}, {@code d3}), so the original's packets are reproduced byte for byte.
 *
 * <p>Decoding is written for hostile input: only {@link PacketException} comes out, every length
 * field is checked against the bytes actually left before anything is allocated or skipped, and no
 * recursion depends on the input, so time and memory stay linear in the packet's size.
 *
 * <p>Stateless: all methods are static and thread-safe.
 */
public final class GossipCodec {
  /** Longest datagram accepted; a longer one is dropped as {@link DropReason#OVERSIZE}. */
  public static final int MAX_PACKET_BYTES = 65_536;
  /** Public key and signature in front of the body. */
  public static final int HEADER_BYTES = NodeIdentity.PUBLIC_KEY_BYTES + NodeIdentity.SIGNATURE_BYTES;

  /** Largest value of the original's uint32 counters. */
  static final long UINT32_MAX = 0xFFFF_FFFFL;

  static final int TIMESTAMP_EXT_TYPE = -1;
  static final HexFormat HEX = HexFormat.of();

  // Field names, exactly the original's Go struct field names, in its order.
  static final String TYPE = "Type";
  static final String NODE_ID = "NodeID";
  static final String TIMESTAMP = "Timestamp";
  static final String ROUTES = "Routes";
  static final String STORE_PATH = "StorePath";
  static final String UPSTREAM_URL = "UpstreamURL";
  static final String LATENCY_MS = "LatencyMs";
  static final String LATENCY_EMA = "LatencyEMA";
  static final String LAST_VERIFIED = "LastVerified";
  static final String QUERY_COUNT = "QueryCount";
  static final String FAILURE_COUNT = "FailureCount";
  static final String TTL = "TTL";
  static final String NAR_HASH = "NarHash";
  static final String NAR_SIZE = "NarSize";
  static final String NAR_URL = "NarURL";

  static final List<String> MESSAGE_KEYS = List.of(TYPE, NODE_ID, TIMESTAMP, ROUTES);
  static final List<String> ROUTE_KEYS =
      List.of(
          STORE_PATH,
          UPSTREAM_URL,
          LATENCY_MS,
          LATENCY_EMA,
          LAST_VERIFIED,
          QUERY_COUNT,
          FAILURE_COUNT,
          TTL,
          NAR_HASH,
          NAR_SIZE,
          NAR_URL);

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
    Objects.requireNonNull(m, "message");
    MessageBufferPacker out = MessagePack.newDefaultBufferPacker();
    try {
      writeMessageHead(out, m.type(), m.nodeId(), m.timestampNanos(), m.routes().size());
      for (GossipRoute route : m.routes()) {
        writeRoute(out, route);
      }
      return out.toByteArray();
    } catch (IOException e) {
      throw new UncheckedIOException("in-memory msgpack packer failed", e);
    }
  }

  /**
   * {@code [public key][signature of the body][body]} for {@code m}, signed by {@code id}.
   *
   * @throws IllegalArgumentException when {@code m.nodeId()} is not {@code id}'s node ID (the
   *     receiver would drop it), when the packet would exceed {@value #MAX_PACKET_BYTES} bytes (use
   *     {@link #sealAnnounce}), or for the reasons of {@link #encodeBody}
   */
  public static byte[] seal(NodeIdentity id, GossipMessage m) {
    Objects.requireNonNull(id, "id");
    Objects.requireNonNull(m, "message");
    if (!id.nodeId().equals(m.nodeId())) {
      throw new IllegalArgumentException(
          "message NodeID " + m.nodeId() + " is not the signer's node ID " + id.nodeId());
    }
    byte[] packet = assemble(id, encodeBody(m));
    if (packet.length > MAX_PACKET_BYTES) {
      throw new IllegalArgumentException(
          "packet of "
              + packet.length
              + " bytes exceeds "
              + MAX_PACKET_BYTES
              + "; split the routes with sealAnnounce");
    }
    return packet;
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
   * @param maxDatagramBytes the node uses 65 000; at most {@value #MAX_PACKET_BYTES}, and at least
   *     enough for an empty announce (about 160 bytes)
   * @throws IllegalArgumentException for a bad {@code maxDatagramBytes}, for timestamps that would
   *     overflow, or for a route value {@link #encodeBody} refuses
   */
  public static List<byte[]> sealAnnounce(
      NodeIdentity id, long firstTimestampNanos, List<GossipRoute> newestFirst, int maxDatagramBytes) {
    Objects.requireNonNull(id, "id");
    Objects.requireNonNull(newestFirst, "newestFirst");
    if (maxDatagramBytes > MAX_PACKET_BYTES) {
      throw new IllegalArgumentException(
          "maxDatagramBytes " + maxDatagramBytes + " exceeds " + MAX_PACKET_BYTES);
    }
    int headSize = messageHeadSize(id.nodeId());
    int emptyAnnounce = HEADER_BYTES + headSize + arrayHeaderSize(0);
    if (maxDatagramBytes < emptyAnnounce) {
      throw new IllegalArgumentException(
          "maxDatagramBytes " + maxDatagramBytes + " is below an empty announce (" + emptyAnnounce + ")");
    }

    // Encode each route once.
    List<byte[]> encoded = new ArrayList<>(newestFirst.size());
    MessageBufferPacker routePacker = MessagePack.newDefaultBufferPacker();
    try {
      for (GossipRoute route : newestFirst) {
        routePacker.clear();
        writeRoute(routePacker, route);
        encoded.add(routePacker.toByteArray());
      }
    } catch (IOException e) {
      throw new UncheckedIOException("in-memory msgpack packer failed", e);
    }

    // Greedy in order: fill each datagram as far as it goes. With contiguous groups in a fixed
    // order, filling greedily gives the fewest groups.
    List<List<byte[]>> groups = new ArrayList<>();
    List<byte[]> current = new ArrayList<>();
    long currentRouteBytes = 0;
    for (byte[] route : encoded) {
      if (HEADER_BYTES + headSize + arrayHeaderSize(1) + route.length > maxDatagramBytes) {
        continue; // cannot fit even alone: skipped, see Javadoc
      }
      long withIt =
          HEADER_BYTES
              + headSize
              + arrayHeaderSize(current.size() + 1)
              + currentRouteBytes
              + route.length;
      if (!current.isEmpty() && withIt > maxDatagramBytes) {
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
    if (firstTimestampNanos > Long.MAX_VALUE - (groups.size() - 1)) {
      throw new IllegalArgumentException(
          "timestamps " + firstTimestampNanos + " + " + (groups.size() - 1) + " overflow");
    }

    List<byte[]> packets = new ArrayList<>(groups.size());
    MessageBufferPacker body = MessagePack.newDefaultBufferPacker();
    try {
      for (int i = 0; i < groups.size(); i++) {
        List<byte[]> group = groups.get(i);
        body.clear();
        writeMessageHead(
            body, GossipMessage.ANNOUNCE, id.nodeId(), firstTimestampNanos + i, group.size());
        for (byte[] route : group) {
          body.writePayload(route);
        }
        byte[] packet = assemble(id, body.toByteArray());
        if (packet.length > maxDatagramBytes) { // the size arithmetic above is wrong: a bug
          throw new IllegalStateException(
              "announce datagram of " + packet.length + " bytes exceeds " + maxDatagramBytes);
        }
        packets.add(packet);
      }
    } catch (IOException e) {
      throw new UncheckedIOException("in-memory msgpack packer failed", e);
    }
    return packets;
  }

  /** Bytes {@code route} takes in a body (what {@link #sealAnnounce} packs). */
  public static int encodedRouteSize(GossipRoute route) {
    MessageBufferPacker out = MessagePack.newDefaultBufferPacker();
    try {
      writeRoute(out, route);
      return Math.toIntExact(out.getTotalWrittenBytes());
    } catch (IOException e) {
      throw new UncheckedIOException("in-memory msgpack packer failed", e);
    }
  }

  private static byte[] assemble(NodeIdentity id, byte[] body) {
    byte[] packet = new byte[HEADER_BYTES + body.length];
    System.arraycopy(id.publicKey(), 0, packet, 0, NodeIdentity.PUBLIC_KEY_BYTES);
    System.arraycopy(id.sign(body), 0, packet, NodeIdentity.PUBLIC_KEY_BYTES, NodeIdentity.SIGNATURE_BYTES);
    System.arraycopy(body, 0, packet, HEADER_BYTES, body.length);
    return packet;
  }

  /** Everything of the body up to and including the Routes array header (or nil). */
  private static void writeMessageHead(
      MessagePacker out, int type, String nodeId, long timestampNanos, int routeCount)
      throws IOException {
    if (type < 0 || type > 0xFF) {
      throw new IllegalArgumentException("Type " + type + " does not fit the original's uint8");
    }
    out.packMapHeader(MESSAGE_KEYS.size());
    writeString(out, TYPE, TYPE);
    out.writePayload(new byte[] {(byte) 0xcc, (byte) type}); // uint8, as Go writes a uint8
    writeString(out, NODE_ID, NODE_ID);
    writeString(out, nodeId, NODE_ID);
    writeString(out, TIMESTAMP, TIMESTAMP);
    writeFixed(out, (byte) 0xd3, timestampNanos, 8); // int64
    writeString(out, ROUTES, ROUTES);
    if (routeCount == 0) {
      out.packNil(); // Go encodes an empty (nil) slice as nil
    } else {
      out.packArrayHeader(routeCount);
    }
  }

  private static void writeRoute(MessagePacker out, GossipRoute r) throws IOException {
    Objects.requireNonNull(r, "route");
    if (r.narSize() < 0) {
      throw new IllegalArgumentException("NarSize " + r.narSize() + " is negative");
    }
    out.packMapHeader(ROUTE_KEYS.size());
    writeString(out, STORE_PATH, STORE_PATH);
    writeString(out, r.storePath(), STORE_PATH);
    writeString(out, UPSTREAM_URL, UPSTREAM_URL);
    writeString(out, r.upstreamUrl(), UPSTREAM_URL);
    writeString(out, LATENCY_MS, LATENCY_MS);
    out.packDouble(r.latencyMs()); // always float64 (cb), as Go writes a float64
    writeString(out, LATENCY_EMA, LATENCY_EMA);
    out.packDouble(r.latencyEma());
    writeString(out, LAST_VERIFIED, LAST_VERIFIED);
    out.packTimestamp(Objects.requireNonNull(r.lastVerified(), LAST_VERIFIED));
    writeString(out, QUERY_COUNT, QUERY_COUNT);
    writeFixed(out, (byte) 0xce, clampUint32(r.queryCount()), 4);
    writeString(out, FAILURE_COUNT, FAILURE_COUNT);
    writeFixed(out, (byte) 0xce, clampUint32(r.failureCount()), 4);
    writeString(out, TTL, TTL);
    out.packTimestamp(Objects.requireNonNull(r.expiresAt(), TTL));
    writeString(out, NAR_HASH, NAR_HASH);
    writeString(out, r.narHash(), NAR_HASH);
    writeString(out, NAR_SIZE, NAR_SIZE);
    writeFixed(out, (byte) 0xcf, r.narSize(), 8); // uint64
    writeString(out, NAR_URL, NAR_URL);
    writeString(out, r.narUrl(), NAR_URL);
  }

  private static long clampUint32(long v) {
    return Math.max(0, Math.min(UINT32_MAX, v));
  }

  /** A format byte followed by {@code width} big-endian bytes of {@code value}. */
  private static void writeFixed(MessagePacker out, byte format, long value, int width)
      throws IOException {
    byte[] b = new byte[1 + width];
    b[0] = format;
    for (int i = 0; i < width; i++) {
      b[width - i] = (byte) (value >>> (8 * i));
    }
    out.writePayload(b);
  }

  /** A string with the smallest header (fixstr, str8, str16, str32), as Go writes it. */
  private static void writeString(MessagePacker out, String s, String field) throws IOException {
    if (s == null) {
      throw new IllegalArgumentException(field + " is null");
    }
    byte[] utf8;
    try {
      ByteBuffer encoded =
          StandardCharsets.UTF_8
              .newEncoder()
              .onMalformedInput(CodingErrorAction.REPORT)
              .onUnmappableCharacter(CodingErrorAction.REPORT)
              .encode(CharBuffer.wrap(s));
      utf8 = Arrays.copyOfRange(encoded.array(), encoded.arrayOffset(), encoded.arrayOffset() + encoded.limit());
    } catch (CharacterCodingException e) {
      throw new IllegalArgumentException(field + " is not valid Unicode (unpaired surrogate)", e);
    }
    out.packRawStringHeader(utf8.length);
    out.writePayload(utf8);
  }

  private static int messageHeadSize(String nodeId) {
    MessageBufferPacker out = MessagePack.newDefaultBufferPacker();
    try {
      writeMessageHead(out, GossipMessage.ANNOUNCE, nodeId, 0, 0);
      // minus the nil written for zero routes: arrayHeaderSize accounts for it
      return Math.toIntExact(out.getTotalWrittenBytes()) - 1;
    } catch (IOException e) {
      throw new UncheckedIOException("in-memory msgpack packer failed", e);
    }
  }

  /** Bytes of the Routes header for {@code n} routes: nil, fixarray, array16 or array32. */
  private static int arrayHeaderSize(int n) {
    if (n < 16) {
      return 1;
    }
    return n < 65536 ? 3 : 5;
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
          "NodeID \"" + abbreviate(message.nodeId()) + "\" is not the signing key's node ID " + expected);
    }
    return new Opened(sender, message);
  }

  /**
   * The claimed sender key of a datagram (a copy of its first 32 bytes), after the same size
   * checks as {@link #open} and nothing else: the signature is <em>not</em> verified. It lets a node
   * whose peers all have keys drop {@link DropReason#UNKNOWN_SENDER} before paying for a signature
   * verification (the JDK's Ed25519 takes about 0.7 ms per verification, so verifying first would
   * let anyone burn the node's CPU with junk datagrams).
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
   * beyond {@link Instant}'s range, strings that are not valid UTF-8, truncated input, and trailing
   * bytes after the map.
   *
   * <p>Values are not judged (NaN latencies, an {@code UpstreamURL} that is not configured locally,
   * a {@code StorePath} that is not a store path hash): that is the merge's business.
   *
   * @throws PacketException always with {@link DropReason#MALFORMED}; nothing else escapes
   */
  public static GossipMessage decodeBody(byte[] body) throws PacketException {
    if (body == null) {
      throw new PacketException(DropReason.MALFORMED, "no body");
    }
    try (MessageUnpacker in = MessagePack.newDefaultUnpacker(body)) {
      GossipBodyReader reader = new GossipBodyReader(in, body.length);
      GossipMessage message = reader.message();
      if (reader.remaining() != 0) {
        throw malformed(reader.remaining() + " trailing bytes after the message");
      }
      return message;
    } catch (PacketException e) {
      throw e;
    } catch (MessageInsufficientBufferException e) {
      throw new PacketException(DropReason.MALFORMED, "truncated body", e);
    } catch (MessagePackException | IOException e) {
      throw new PacketException(DropReason.MALFORMED, "not a gossip message body: " + e.getMessage(), e);
    } catch (RuntimeException e) {
      // Backstop so that a receive loop never dies on a packet; the cause's type tells a decoder
      // bug (the fuzz test fails on it) from msgpack-core reporting bad input.
      throw new PacketException(DropReason.MALFORMED, "unexpected decoder failure: " + e, e);
    }
  }

  /** Peer-controlled text in a log message: at most 40 characters. */
  static String abbreviate(String s) {
    return s.length() <= 40 ? s : s.substring(0, 40) + "...";
  }

  static PacketException malformed(String message) {
    return new PacketException(DropReason.MALFORMED, message);
  }
}

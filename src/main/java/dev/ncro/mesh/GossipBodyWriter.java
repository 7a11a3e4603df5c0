package dev.ncro.mesh;

import static dev.ncro.mesh.GossipWire.FAILURE_COUNT;
import static dev.ncro.mesh.GossipWire.LAST_VERIFIED;
import static dev.ncro.mesh.GossipWire.LATENCY_EMA;
import static dev.ncro.mesh.GossipWire.LATENCY_MS;
import static dev.ncro.mesh.GossipWire.MESSAGE_KEYS;
import static dev.ncro.mesh.GossipWire.NAR_HASH;
import static dev.ncro.mesh.GossipWire.NAR_SIZE;
import static dev.ncro.mesh.GossipWire.NAR_URL;
import static dev.ncro.mesh.GossipWire.NODE_ID;
import static dev.ncro.mesh.GossipWire.QUERY_COUNT;
import static dev.ncro.mesh.GossipWire.ROUTES;
import static dev.ncro.mesh.GossipWire.ROUTE_KEYS;
import static dev.ncro.mesh.GossipWire.STORE_PATH;
import static dev.ncro.mesh.GossipWire.TIMESTAMP;
import static dev.ncro.mesh.GossipWire.TTL;
import static dev.ncro.mesh.GossipWire.TYPE;
import static dev.ncro.mesh.GossipWire.UINT32_MAX;
import static dev.ncro.mesh.GossipWire.UPSTREAM_URL;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.CharBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Objects;
import org.msgpack.core.MessageBufferPacker;
import org.msgpack.core.MessagePack;
import org.msgpack.core.MessagePacker;

/**
 * Writes gossip bodies byte for byte as the original Go ncro does, so that its nodes accept ours
 * and the vectors it produced are reproduced exactly. msgpack-core alone would pick the smallest
 * integer format; Go writes each field at its declared width ({@code cc} uint8, {@code ce} uint32,
 * {@code cf} uint64, {@code d3} int64, {@code cb} float64), so those are written by hand here. Keys
 * go in the original's struct order; an empty route list is nil, as Go encodes an empty slice.
 *
 * <p>Values the wire cannot carry are refused with {@link IllegalArgumentException}: a type
 * outside 0..255, a null string or time, a string that is not valid Unicode (unpaired surrogate),
 * a negative {@code NarSize}. Counters outside 0..2<sup>32</sup>-1 (the original's uint32) are
 * clamped into that range rather than refused.
 *
 * <p>Stateless: all methods are static and thread-safe.
 */
final class GossipBodyWriter {
  private GossipBodyWriter() {}

  /** The whole body of {@code m}. */
  static byte[] encode(GossipMessage m) {
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
   * The bytes each route takes in a body, in order, so that the announce packer encodes each route
   * once. One packer is reused for all: a fresh one per route would allocate its 8 KiB buffer each
   * time, for thousands of routes per announce.
   */
  static List<byte[]> encodeRoutes(List<GossipRoute> routes) {
    List<byte[]> encoded = new ArrayList<>(routes.size());
    MessageBufferPacker out = MessagePack.newDefaultBufferPacker();
    try {
      for (GossipRoute route : routes) {
        out.clear();
        writeRoute(out, route);
        encoded.add(out.toByteArray());
      }
      return encoded;
    } catch (IOException e) {
      throw new UncheckedIOException("in-memory msgpack packer failed", e);
    }
  }

  /** An announce body from routes already encoded by {@link #encodeRoutes}. */
  static byte[] announce(String nodeId, long timestampNanos, List<byte[]> encodedRoutes) {
    MessageBufferPacker out = MessagePack.newDefaultBufferPacker();
    try {
      writeMessageHead(out, GossipMessage.ANNOUNCE, nodeId, timestampNanos, encodedRoutes.size());
      for (byte[] route : encodedRoutes) {
        out.writePayload(route);
      }
      return out.toByteArray();
    } catch (IOException e) {
      throw new UncheckedIOException("in-memory msgpack packer failed", e);
    }
  }

  /**
   * Bytes of an announce body from {@code nodeId} before its route array: the body is this plus
   * {@link #arrayHeaderSize} plus the routes.
   */
  static int announceHeadSize(String nodeId) {
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
  static int arrayHeaderSize(int n) {
    if (n < 16) {
      return 1;
    }
    return n < 65536 ? 3 : 5;
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
      ByteBuffer encoded = StandardCharsets.UTF_8
          .newEncoder()
          .onMalformedInput(CodingErrorAction.REPORT)
          .onUnmappableCharacter(CodingErrorAction.REPORT)
          .encode(CharBuffer.wrap(s));
      utf8 = Arrays.copyOfRange(
          encoded.array(), encoded.arrayOffset(), encoded.arrayOffset() + encoded.limit());
    } catch (CharacterCodingException e) {
      throw new IllegalArgumentException(field + " is not valid Unicode (unpaired surrogate)", e);
    }
    out.packRawStringHeader(utf8.length);
    out.writePayload(utf8);
  }
}

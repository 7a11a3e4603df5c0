package dev.ncro.mesh;

import static dev.ncro.mesh.GossipCodec.*;

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
 * Reads one gossip body in one pass, as {@link GossipCodec#decodeBody} needs it: every read is
 * preceded by a check of the bytes left (no allocation from an unchecked length), nothing recurses,
 * and anything not of the original's shape is a {@link PacketException} (MALFORMED).
 */
final class GossipBodyReader {

  private final MessageUnpacker in;
  private final long length;

  GossipBodyReader(MessageUnpacker in, long length) {
    this.in = in;
    this.length = length;
  }

  long remaining() {
    return length - in.getTotalReadBytes();
  }

  GossipMessage message() throws IOException, PacketException {
    int entries = mapHeader("message");
    int seen = 0;
    int type = 0;
    String nodeId = null;
    long timestamp = 0;
    List<GossipRoute> routes = null;
    for (int i = 0; i < entries; i++) {
      String key = string("message key");
      int index = MESSAGE_KEYS.indexOf(key);
      if (index < 0) {
        skipValue(key);
        continue;
      }
      seen = markSeen(seen, index, key);
      switch (index) {
        case 0 -> {
          long t = integer(TYPE);
          if (t != GossipMessage.ANNOUNCE) {
            throw malformed("unknown Type " + t);
          }
          type = (int) t;
        }
        case 1 -> nodeId = string(NODE_ID);
        case 2 -> timestamp = integer(TIMESTAMP);
        default -> routes = routes();
      }
    }
    requireAll(seen, MESSAGE_KEYS, "message");
    return new GossipMessage(type, nodeId, timestamp, routes);
  }

  private List<GossipRoute> routes() throws IOException, PacketException {
    MessageFormat format = nextFormat(ROUTES);
    if (format == MessageFormat.NIL) {
      in.unpackNil();
      return List.of();
    }
    if (format.getValueType() != ValueType.ARRAY) {
      throw wrongType(ROUTES, format, "an array or nil");
    }
    int count = in.unpackArrayHeader();
    if (count > remaining()) { // every route takes at least one byte
      throw malformed("Routes claims " + count + " entries in " + remaining() + " bytes");
    }
    List<GossipRoute> routes = new ArrayList<>(Math.min(count, 256));
    for (int i = 0; i < count; i++) {
      routes.add(route());
    }
    return routes;
  }

  private GossipRoute route() throws IOException, PacketException {
    int entries = mapHeader("route");
    int seen = 0;
    String storePath = null;
    String upstreamUrl = null;
    double latencyMs = 0;
    double latencyEma = 0;
    Instant lastVerified = null;
    long queryCount = 0;
    long failureCount = 0;
    Instant expiresAt = null;
    String narHash = null;
    long narSize = 0;
    String narUrl = null;
    for (int i = 0; i < entries; i++) {
      String key = string("route key");
      int index = ROUTE_KEYS.indexOf(key);
      if (index < 0) {
        skipValue(key);
        continue;
      }
      seen = markSeen(seen, index, key);
      switch (index) {
        case 0 -> storePath = string(STORE_PATH);
        case 1 -> upstreamUrl = string(UPSTREAM_URL);
        case 2 -> latencyMs = number(LATENCY_MS);
        case 3 -> latencyEma = number(LATENCY_EMA);
        case 4 -> lastVerified = timestamp(LAST_VERIFIED);
        case 5 -> queryCount = integerIn(QUERY_COUNT, 0, UINT32_MAX);
        case 6 -> failureCount = integerIn(FAILURE_COUNT, 0, UINT32_MAX);
        case 7 -> expiresAt = timestamp(TTL);
        case 8 -> narHash = string(NAR_HASH);
        case 9 -> narSize = integerIn(NAR_SIZE, 0, Long.MAX_VALUE);
        default -> narUrl = string(NAR_URL);
      }
    }
    requireAll(seen, ROUTE_KEYS, "route");
    return new GossipRoute(
        storePath,
        upstreamUrl,
        latencyMs,
        latencyEma,
        lastVerified,
        queryCount,
        failureCount,
        expiresAt,
        narHash,
        narSize,
        narUrl);
  }

  private static int markSeen(int seen, int index, String key) throws PacketException {
    if ((seen & (1 << index)) != 0) {
      throw malformed("key " + key + " appears twice");
    }
    return seen | (1 << index);
  }

  private static void requireAll(int seen, List<String> keys, String what)
      throws PacketException {
    if (seen == (1 << keys.size()) - 1) {
      return;
    }
    List<String> missing = new ArrayList<>();
    for (int i = 0; i < keys.size(); i++) {
      if ((seen & (1 << i)) == 0) {
        missing.add(keys.get(i));
      }
    }
    throw malformed(what + " lacks " + String.join(", ", missing));
  }

  /** The next value's format; never NEVER_USED (0xc1), never past the end. */
  private MessageFormat nextFormat(String what) throws IOException, PacketException {
    if (remaining() <= 0) {
      throw malformed("truncated body: " + what + " missing");
    }
    MessageFormat format = in.getNextFormat();
    if (format == MessageFormat.NEVER_USED) {
      throw malformed(what + " starts with the never-used byte 0xc1");
    }
    return format;
  }

  private int mapHeader(String what) throws IOException, PacketException {
    MessageFormat format = nextFormat(what);
    if (format.getValueType() != ValueType.MAP) {
      throw wrongType(what, format, "a map");
    }
    int entries = in.unpackMapHeader();
    if (2L * entries > remaining()) { // a key and a value take at least a byte each
      throw malformed(what + " claims " + entries + " entries in " + remaining() + " bytes");
    }
    return entries;
  }

  private String string(String what) throws IOException, PacketException {
    MessageFormat format = nextFormat(what);
    if (format.getValueType() != ValueType.STRING) {
      throw wrongType(what, format, "a string");
    }
    int size = in.unpackRawStringHeader();
    if (size > remaining()) {
      throw malformed(what + " claims " + size + " bytes, " + remaining() + " left");
    }
    byte[] utf8 = in.readPayload(size);
    try {
      return StandardCharsets.UTF_8
          .newDecoder()
          .onMalformedInput(CodingErrorAction.REPORT)
          .onUnmappableCharacter(CodingErrorAction.REPORT)
          .decode(ByteBuffer.wrap(utf8))
          .toString();
    } catch (CharacterCodingException e) {
      throw malformed(what + " is not valid UTF-8");
    }
  }

  private long integer(String what) throws IOException, PacketException {
    MessageFormat format = nextFormat(what);
    if (format.getValueType() != ValueType.INTEGER) {
      throw wrongType(what, format, "an integer");
    }
    try {
      return in.unpackLong();
    } catch (MessageIntegerOverflowException e) {
      throw malformed(what + " " + e.getBigInteger() + " is out of range");
    }
  }

  private long integerIn(String what, long min, long max) throws IOException, PacketException {
    long v = integer(what);
    if (v < min || v > max) {
      throw malformed(what + " " + v + " is outside " + min + ".." + max);
    }
    return v;
  }

  /** A float64 field: Go's decoder also takes float32 and integers there, so do we. */
  private double number(String what) throws IOException, PacketException {
    MessageFormat format = nextFormat(what);
    if (format.getValueType() == ValueType.FLOAT) {
      return in.unpackDouble();
    }
    if (format.getValueType() == ValueType.INTEGER) {
      try {
        return in.unpackLong();
      } catch (MessageIntegerOverflowException e) {
        return e.getBigInteger().doubleValue();
      }
    }
    throw wrongType(what, format, "a number");
  }

  /**
   * The msgpack timestamp extension (type -1), decoded here rather than by
   * {@code unpackTimestamp} so that non-canonical nanoseconds and out-of-range seconds are
   * refused instead of normalised or thrown as a DateTimeException.
   */
  private Instant timestamp(String what) throws IOException, PacketException {
    MessageFormat format = nextFormat(what);
    if (format.getValueType() != ValueType.EXTENSION) {
      throw wrongType(what, format, "a timestamp");
    }
    ExtensionTypeHeader header = in.unpackExtensionTypeHeader();
    if (header.getType() != TIMESTAMP_EXT_TYPE) {
      throw malformed(what + " is extension type " + header.getType() + ", expected -1 (timestamp)");
    }
    int size = header.getLength();
    if (size != 4 && size != 8 && size != 12) {
      throw malformed(what + " timestamp has " + size + " bytes, expected 4, 8 or 12");
    }
    if (size > remaining()) {
      throw malformed("truncated body: " + what + " timestamp");
    }
    ByteBuffer data = ByteBuffer.wrap(in.readPayload(size)); // big-endian
    long seconds;
    long nanos;
    if (size == 4) {
      seconds = Integer.toUnsignedLong(data.getInt());
      nanos = 0;
    } else if (size == 8) {
      long packed = data.getLong();
      nanos = packed >>> 34;
      seconds = packed & 0x3_FFFF_FFFFL;
    } else {
      nanos = Integer.toUnsignedLong(data.getInt());
      seconds = data.getLong();
    }
    if (nanos > 999_999_999L) {
      throw malformed(what + " has " + nanos + " nanoseconds");
    }
    try {
      return Instant.ofEpochSecond(seconds, nanos);
    } catch (DateTimeException e) {
      throw malformed(what + " second " + seconds + " is out of range");
    }
  }

  /**
   * Skips one value of any shape without recursion: {@code pending} counts the values still to
   * skip, and since each takes at least one byte it may never exceed the bytes left, which
   * bounds both the loop and the nesting an attacker can claim.
   */
  private void skipValue(String key) throws IOException, PacketException {
    long pending = 1;
    while (pending > 0) {
      MessageFormat format = nextFormat("value of " + key);
      pending--;
      switch (format.getValueType()) {
        case ARRAY -> pending += in.unpackArrayHeader();
        case MAP -> pending += 2L * in.unpackMapHeader();
        default -> in.skipValue(); // a scalar: header and payload, nothing allocated
      }
      if (pending > remaining()) {
        throw malformed("value of unknown key " + key + " claims more than the bytes left");
      }
    }
  }

  private static PacketException wrongType(String what, MessageFormat format, String expected) {
    return malformed(
        what + " is " + format.getValueType().name().toLowerCase(java.util.Locale.ROOT)
            + " (" + format + "), expected " + expected);
  }
}

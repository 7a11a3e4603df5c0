package dev.ncro.mesh;

import static dev.ncro.mesh.GossipWire.TIMESTAMP_EXT_TYPE;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.time.DateTimeException;
import java.time.Instant;
import java.util.Locale;
import org.msgpack.core.ExtensionTypeHeader;
import org.msgpack.core.MessageFormat;
import org.msgpack.core.MessageIntegerOverflowException;
import org.msgpack.core.MessageUnpacker;
import org.msgpack.value.ValueType;

/**
 * msgpack values read from bytes an attacker chose, each of an expected type: every length a
 * header claims is checked against the bytes actually left before anything is allocated or
 * skipped, and nothing recurses, so time and memory stay linear in the input. Anything not of the
 * expected shape is a {@link PacketException} (MALFORMED) whose message names the field
 * ({@code what}). msgpack-core's own exceptions (truncation, bad bytes) pass through for
 * {@link GossipBodyReader#decode} to classify.
 */
final class BoundedUnpacker {
  private final MessageUnpacker in;
  private final long length;

  BoundedUnpacker(MessageUnpacker in, long length) {
    this.in = in;
    this.length = length;
  }

  long remaining() {
    return length - in.getTotalReadBytes();
  }

  /** Consumes a nil and returns true when the next value is nil; otherwise reads nothing. */
  boolean nil(String what) throws IOException, PacketException {
    if (nextFormat(what) != MessageFormat.NIL) {
      return false;
    }
    in.unpackNil();
    return true;
  }

  /** The entry count of a map; each entry takes at least two bytes of what is left. */
  int mapHeader(String what) throws IOException, PacketException {
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

  /** The element count of an array; each element takes at least one byte of what is left. */
  int arrayHeader(String what, String expected) throws IOException, PacketException {
    MessageFormat format = nextFormat(what);
    if (format.getValueType() != ValueType.ARRAY) {
      throw wrongType(what, format, expected);
    }
    int count = in.unpackArrayHeader();
    if (count > remaining()) {
      throw malformed(what + " claims " + count + " entries in " + remaining() + " bytes");
    }
    return count;
  }

  /** A string that is valid UTF-8 (Go would accept invalid bytes; nothing legitimate sends them). */
  String string(String what) throws IOException, PacketException {
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

  /** An integer of any msgpack width that fits a long. */
  long integer(String what) throws IOException, PacketException {
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

  long integerIn(String what, long min, long max) throws IOException, PacketException {
    long v = integer(what);
    if (v < min || v > max) {
      throw malformed(what + " " + v + " is outside " + min + ".." + max);
    }
    return v;
  }

  /** A float64 field: Go's decoder also takes float32 and integers there, so do we. */
  double number(String what) throws IOException, PacketException {
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
   * The msgpack timestamp extension (type -1) in its 4, 8 and 12-byte forms, decoded here rather
   * than by {@code unpackTimestamp} so that non-canonical nanoseconds and out-of-range seconds are
   * refused instead of normalised or thrown as a DateTimeException.
   */
  Instant timestamp(String what) throws IOException, PacketException {
    MessageFormat format = nextFormat(what);
    if (format.getValueType() != ValueType.EXTENSION) {
      throw wrongType(what, format, "a timestamp");
    }
    ExtensionTypeHeader header = in.unpackExtensionTypeHeader();
    if (header.getType() != TIMESTAMP_EXT_TYPE) {
      throw malformed(
          what + " is extension type " + header.getType() + ", expected -1 (timestamp)");
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
   * skip, and since each takes at least one byte it may never exceed the bytes left, which bounds
   * both the loop and the nesting an attacker can claim.
   */
  void skipValue(String key) throws IOException, PacketException {
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

  static PacketException malformed(String message) {
    return new PacketException(DropReason.MALFORMED, message);
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

  private static PacketException wrongType(String what, MessageFormat format, String expected) {
    return malformed(what + " is " + format.getValueType().name().toLowerCase(Locale.ROOT) + " ("
        + format + "), expected " + expected);
  }
}

package dev.ncro.mesh;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.fail;

import java.io.IOException;
import java.math.BigInteger;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.msgpack.core.MessageBufferPacker;
import org.msgpack.core.MessagePack;
import org.msgpack.core.MessagePackException;
import org.msgpack.core.MessageUnpacker;
import org.msgpack.value.Value;
import org.msgpack.value.ValueFactory;

class GossipCodecTest {
  private static final NodeIdentity ID =
      NodeIdentity.fromPrivateKey(MeshVectors.named("announce-two-routes").privateKeyFile());
  private static final byte[] TWO_ROUTES_BODY =
      MeshVectors.named("announce-two-routes").body();
  private static final byte[] TWO_ROUTES_PACKET =
      MeshVectors.named("announce-two-routes").packet();
  private static final String NIX_BASE32 = "0123456789abcdfghijklmnpqrsvwxyz";
  private static final long NOV_2026 = 1_795_000_000L;

  // ------------------------------------------------------------------------------- round trips

  @Test
  void randomMessagesRoundTrip() throws Exception {
    Random random = new Random(20261124);
    for (int i = 0; i < 2_000; i++) {
      GossipMessage m = randomMessage(random, random.nextInt(i % 50 == 0 ? 300 : 6));
      byte[] body = GossipCodec.encodeBody(m);
      GossipMessage decoded = GossipCodec.decodeBody(body);
      assertThat(decoded).isEqualTo(m);
      assertThat(GossipCodec.encodeBody(decoded)).isEqualTo(body);
      // And through a signed packet.
      GossipMessage signed = new GossipMessage(1, ID.nodeId(), m.timestampNanos(), m.routes());
      if (i % 10 == 0 && GossipCodec.HEADER_BYTES + body.length <= GossipCodec.MAX_PACKET_BYTES) {
        byte[] packet = GossipCodec.seal(ID, signed);
        assertThat(GossipCodec.open(packet, packet.length).message()).isEqualTo(signed);
      }
    }
  }

  @Test
  void edgeValuesRoundTrip() throws Exception {
    List<GossipRoute> routes = new ArrayList<>();
    Instant[] instants = {
      Instant.EPOCH,
      Instant.ofEpochSecond(0xFFFF_FFFFL), // largest timestamp32
      Instant.ofEpochSecond(0x1_0000_0000L), // smallest timestamp64 by seconds
      Instant.ofEpochSecond(0, 1), // timestamp64 by nanoseconds
      Instant.ofEpochSecond(0x3_FFFF_FFFFL, 999_999_999), // largest timestamp64
      Instant.ofEpochSecond(0x4_0000_0000L), // timestamp96
      Instant.ofEpochSecond(-1, 999_999_999), // before 1970: timestamp96
      Instant.parse("0001-01-01T00:00:00Z"), // Go's zero time.Time
      Instant.MIN,
      Instant.MAX,
    };
    double[] doubles = {
      0.0,
      -0.0,
      Double.MIN_VALUE,
      Double.MAX_VALUE,
      -Double.MAX_VALUE,
      Double.POSITIVE_INFINITY,
      Double.NEGATIVE_INFINITY,
      Double.NaN,
      1e-300,
      80.0
    };
    String[] strings = {
      "",
      "a",
      "x".repeat(31),
      "x".repeat(32),
      "x".repeat(255),
      "x".repeat(256),
      "x".repeat(70_000),
      "https://例え.jp/キャッシュ",
      "https://cache.example/\uD83D\uDE00",
      "nul\0byte",
      "é"
    };
    long[] counts = {0, 1, 127, 128, 255, 256, 65_535, 65_536, GossipWire.UINT32_MAX};
    long[] sizes = {0, 1, 127, 0xFFFF_FFFFL, 0x1_0000_0000L, Long.MAX_VALUE};
    for (int i = 0; i < 40; i++) {
      routes.add(new GossipRoute(
          strings[i % strings.length],
          strings[(i + 3) % strings.length],
          doubles[i % doubles.length],
          doubles[(i + 7) % doubles.length],
          instants[i % instants.length],
          counts[i % counts.length],
          counts[(i + 4) % counts.length],
          instants[(i + 5) % instants.length],
          strings[(i + 1) % strings.length],
          sizes[i % sizes.length],
          strings[(i + 2) % strings.length]));
    }
    for (long timestamp : new long[] {Long.MIN_VALUE, -1, 0, 1, Long.MAX_VALUE}) {
      GossipMessage m = new GossipMessage(1, "", timestamp, routes);
      assertThat(GossipCodec.decodeBody(GossipCodec.encodeBody(m))).isEqualTo(m);
    }
  }

  @Test
  void zeroRoutesEncodeAsNilAndDecodeEmpty() throws Exception {
    GossipMessage m = new GossipMessage(1, ID.nodeId(), 5, List.of());
    byte[] body = GossipCodec.encodeBody(m);
    assertThat(body[body.length - 1]).isEqualTo((byte) 0xc0);
    assertThat(GossipCodec.decodeBody(body)).isEqualTo(m);
  }

  @Test
  void timestampFormatsMatchGo() {
    // Go (vmihailenco/msgpack) and msgpack-core pick the same of the three timestamp forms.
    assertThat(routeBytesContaining(Instant.ofEpochSecond(NOV_2026))).contains("d6ff");
    assertThat(routeBytesContaining(Instant.ofEpochSecond(NOV_2026, 5))).contains("d7ff");
    assertThat(routeBytesContaining(Instant.parse("0001-01-01T00:00:00Z"))).contains("c70cff");
  }

  private static String routeBytesContaining(Instant t) {
    GossipRoute r = new GossipRoute("h", "u", 1, 1, t, 0, 0, t, "", 0, "");
    return HexFormat.of()
        .formatHex(GossipCodec.encodeBody(new GossipMessage(1, "n", 0, List.of(r))));
  }

  @Test
  void countersOutsideUint32AreClampedAndNegativeNarSizeIsRefused() throws Exception {
    GossipRoute r = route(new Random(1), 0).withCounts(-5, 1L << 40).route();
    GossipMessage decoded =
        GossipCodec.decodeBody(GossipCodec.encodeBody(new GossipMessage(1, "n", 0, List.of(r))));
    assertThat(decoded.routes().get(0).queryCount()).isZero();
    assertThat(decoded.routes().get(0).failureCount()).isEqualTo(GossipWire.UINT32_MAX);

    GossipRoute negative = withNarSize(route(new Random(1), 0).route(), -1);
    assertThatThrownBy(
            () -> GossipCodec.encodeBody(new GossipMessage(1, "n", 0, List.of(negative))))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("NarSize");
  }

  @Test
  void encodeRefusesWhatTheWireCannotCarry() {
    GossipRoute ok = route(new Random(2), 0).route();
    assertThatThrownBy(() -> GossipCodec.encodeBody(new GossipMessage(256, "n", 0, List.of())))
        .isInstanceOf(IllegalArgumentException.class);
    assertThatThrownBy(() -> GossipCodec.encodeBody(new GossipMessage(1, null, 0, List.of())))
        .isInstanceOf(IllegalArgumentException.class);
    GossipRoute nullHash = new GossipRoute(
        ok.storePath(),
        ok.upstreamUrl(),
        1,
        1,
        ok.lastVerified(),
        0,
        0,
        ok.expiresAt(),
        null,
        0,
        "");
    assertThatThrownBy(
            () -> GossipCodec.encodeBody(new GossipMessage(1, "n", 0, List.of(nullHash))))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("NarHash");
    GossipRoute surrogate = new GossipRoute(
        "\uD800", ok.upstreamUrl(), 1, 1, ok.lastVerified(), 0, 0, ok.expiresAt(), "", 0, "");
    assertThatThrownBy(
            () -> GossipCodec.encodeBody(new GossipMessage(1, "n", 0, List.of(surrogate))))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("StorePath");
  }

  // ------------------------------------------------------------------------- lenient decoding

  @Test
  void keysInAnyOrderAndUnknownKeysAreAccepted() throws Exception {
    GossipMessage expected = GossipCodec.decodeBody(TWO_ROUTES_BODY);
    Map<Value, Value> message = mapOf(TWO_ROUTES_BODY);
    // Reverse the message keys and each route's keys, and add unknown keys of every shape.
    List<Value> routes = new ArrayList<>();
    for (Value route : message.get(str("Routes")).asArrayValue()) {
      Map<Value, Value> reversed = reversed(route.asMapValue().map());
      reversed.put(
          str("Zone"),
          ValueFactory.newArray(
              ValueFactory.newMap(str("a"), ValueFactory.newArray()), ValueFactory.newNil()));
      routes.add(ValueFactory.newMap(reversed));
    }
    message.put(str("Routes"), ValueFactory.newArray(routes));
    Map<Value, Value> reordered = reversed(message);
    reordered.put(str("Version"), ValueFactory.newInteger(2));
    reordered.put(str("Blob"), ValueFactory.newBinary(new byte[300]));
    reordered.put(str("Ext"), ValueFactory.newExtension((byte) 42, new byte[17]));
    reordered.put(str("When"), ValueFactory.newTimestamp(Instant.now()));
    reordered.put(str("Nested"), nested(5_000));
    assertThat(GossipCodec.decodeBody(pack(ValueFactory.newMap(reordered)))).isEqualTo(expected);
  }

  @Test
  void routesAsAnEmptyArrayIsAccepted() throws Exception {
    Map<Value, Value> message = mapOf(TWO_ROUTES_BODY);
    message.put(str("Routes"), ValueFactory.newArray());
    assertThat(GossipCodec.decodeBody(pack(ValueFactory.newMap(message))).routes())
        .isEmpty();
  }

  @Test
  void integersAndFloat32AreAcceptedWhereAFloat64IsExpected() throws Exception {
    byte[] body = withRouteField(0, "LatencyMs", ValueFactory.newInteger(80));
    assertThat(GossipCodec.decodeBody(body).routes().get(0).latencyMs()).isEqualTo(80.0);
    body = withRouteField(0, "LatencyEMA", ValueFactory.newInteger(-3));
    assertThat(GossipCodec.decodeBody(body).routes().get(0).latencyEma()).isEqualTo(-3.0);
    // The first route's LatencyMs (12.5) re-encoded as a float32: ca 41480000.
    String hex = HexFormat.of().formatHex(TWO_ROUTES_BODY);
    String latencyMs = "a94c6174656e63794d73cb4029000000000000";
    assertThat(hex).contains(latencyMs);
    body = HexFormat.of().parseHex(hex.replaceFirst(latencyMs, "a94c6174656e63794d73ca41480000"));
    assertThat(GossipCodec.decodeBody(body).routes().get(0).latencyMs()).isEqualTo(12.5);
  }

  @Test
  void timestampsInTheirThreeFormsAndSmallIntegersDecode() throws Exception {
    Instant t32 = Instant.ofEpochSecond(NOV_2026);
    Instant t96 = Instant.ofEpochSecond(-5, 7);
    byte[] body = withRouteField(0, "LastVerified", ValueFactory.newTimestamp(t32));
    body = withRouteField(body, 0, "TTL", ValueFactory.newTimestamp(t96));
    body = withRouteField(body, 0, "NarSize", ValueFactory.newInteger(5)); // positive fixint
    body = withMessageField(body, "Type", ValueFactory.newInteger(1)); // fixint instead of cc 01
    body = withMessageField(body, "Timestamp", ValueFactory.newInteger(-3)); // negative fixint
    GossipMessage m = GossipCodec.decodeBody(body);
    assertThat(m.routes().get(0).lastVerified()).isEqualTo(t32);
    assertThat(m.routes().get(0).expiresAt()).isEqualTo(t96);
    assertThat(m.routes().get(0).narSize()).isEqualTo(5);
    assertThat(m.timestampNanos()).isEqualTo(-3);
  }

  // -------------------------------------------------------------------------- strict decoding

  private static final Map<String, Value> KINDS = new LinkedHashMap<>();

  static {
    KINDS.put("nil", ValueFactory.newNil());
    KINDS.put("bool", ValueFactory.newBoolean(true));
    KINDS.put("int", ValueFactory.newInteger(1));
    KINDS.put("negative", ValueFactory.newInteger(-7));
    KINDS.put("float", ValueFactory.newFloat(1.5));
    KINDS.put("string", str("x"));
    KINDS.put("binary", ValueFactory.newBinary(new byte[] {1, 2}));
    KINDS.put("array", ValueFactory.newArray(ValueFactory.newInteger(1)));
    KINDS.put("map", ValueFactory.newMap(str("k"), ValueFactory.newInteger(1)));
    KINDS.put("ext", ValueFactory.newExtension((byte) 5, new byte[8]));
    KINDS.put("timestamp", ValueFactory.newTimestamp(Instant.ofEpochSecond(NOV_2026, 1)));
  }

  /** For each field, the kinds of value it takes; every other kind must be MALFORMED. */
  private static final Map<String, Set<String>> ACCEPTED = Map.ofEntries(
      Map.entry("Type", Set.of("int")),
      Map.entry("NodeID", Set.of("string")),
      Map.entry("Timestamp", Set.of("int", "negative")),
      Map.entry("Routes", Set.of("nil")),
      Map.entry("StorePath", Set.of("string")),
      Map.entry("UpstreamURL", Set.of("string")),
      Map.entry("LatencyMs", Set.of("int", "negative", "float")),
      Map.entry("LatencyEMA", Set.of("int", "negative", "float")),
      Map.entry("LastVerified", Set.of("timestamp")),
      Map.entry("QueryCount", Set.of("int")),
      Map.entry("FailureCount", Set.of("int")),
      Map.entry("TTL", Set.of("timestamp")),
      Map.entry("NarHash", Set.of("string")),
      Map.entry("NarSize", Set.of("int")),
      Map.entry("NarURL", Set.of("string")));

  @ParameterizedTest
  @ValueSource(strings = {"Type", "NodeID", "Timestamp", "Routes"})
  void everyWrongTypeForAMessageFieldIsMalformed(String field) throws Exception {
    for (Map.Entry<String, Value> kind : KINDS.entrySet()) {
      byte[] body = withMessageField(TWO_ROUTES_BODY, field, kind.getValue());
      if (ACCEPTED.get(field).contains(kind.getKey())) {
        GossipCodec.decodeBody(body);
      } else {
        assertMalformed(body, field + " as " + kind.getKey());
      }
    }
  }

  @ParameterizedTest
  @ValueSource(
      strings = {
        "StorePath",
        "UpstreamURL",
        "LatencyMs",
        "LatencyEMA",
        "LastVerified",
        "QueryCount",
        "FailureCount",
        "TTL",
        "NarHash",
        "NarSize",
        "NarURL"
      })
  void everyWrongTypeForARouteFieldIsMalformed(String field) throws Exception {
    for (Map.Entry<String, Value> kind : KINDS.entrySet()) {
      byte[] body = withRouteField(1, field, kind.getValue());
      if (ACCEPTED.get(field).contains(kind.getKey())) {
        GossipCodec.decodeBody(body);
      } else {
        assertMalformed(body, field + " as " + kind.getKey());
      }
    }
  }

  @ParameterizedTest
  @ValueSource(strings = {"Type", "NodeID", "Timestamp", "Routes"})
  void aMissingMessageKeyIsMalformed(String field) {
    assertMalformed(withMessageField(TWO_ROUTES_BODY, field, null), "without " + field);
  }

  @ParameterizedTest
  @ValueSource(
      strings = {
        "StorePath",
        "UpstreamURL",
        "LatencyMs",
        "LatencyEMA",
        "LastVerified",
        "QueryCount",
        "FailureCount",
        "TTL",
        "NarHash",
        "NarSize",
        "NarURL"
      })
  void aMissingRouteKeyIsMalformed(String field) {
    assertMalformed(withRouteField(0, field, null), "without " + field);
  }

  @Test
  void aRepeatedKeyIsMalformed() {
    // Raw bytes: msgpack-core's map values cannot hold a duplicate key.
    String hex = HexFormat.of().formatHex(TWO_ROUTES_BODY);
    assertThat(hex).startsWith("84a454797065cc01");
    assertMalformed(HexFormat.of().parseHex("85a454797065cc01" + hex.substring(2)), "Type twice");
  }

  @Test
  void anUnknownTypeIsMalformed() {
    for (long type : new long[] {0, 2, 255, 256, -1}) {
      assertThat(assertMalformed(
              withMessageField(TWO_ROUTES_BODY, "Type", ValueFactory.newInteger(type)),
              "Type " + type))
          .hasMessageContaining("Type");
    }
  }

  @Test
  void integersOutOfTheOriginalsRangeAreMalformed() {
    assertMalformed(
        withRouteField(0, "QueryCount", ValueFactory.newInteger(1L << 32)), "QueryCount 2^32");
    assertMalformed(
        withRouteField(0, "FailureCount", ValueFactory.newInteger(-1)), "FailureCount -1");
    assertMalformed(withRouteField(0, "NarSize", ValueFactory.newInteger(-1)), "NarSize -1");
    assertMalformed(
        withRouteField(
            0, "NarSize", ValueFactory.newInteger(new BigInteger("18446744073709551615"))),
        "NarSize 2^64-1");
    assertMalformed(
        withMessageField(
            TWO_ROUTES_BODY,
            "Timestamp",
            ValueFactory.newInteger(new BigInteger("9223372036854775808"))),
        "Timestamp 2^63");
  }

  @Test
  void badTimestampsAreMalformed() {
    // Another extension type, a wrong length, nanoseconds >= 10^9 in both forms that carry them.
    assertMalformed(
        withRouteField(0, "TTL", ValueFactory.newExtension((byte) 13, new byte[8])), "ext 13");
    assertMalformed(
        withRouteField(0, "TTL", ValueFactory.newExtension((byte) -1, new byte[6])),
        "6-byte timestamp");
    byte[] ns64 = {(byte) 0xEE, 0x6B, 0x28, 0, 0, 0, 0, 0}; // nanoseconds field 10^9
    assertMalformed(
        withRouteField(0, "TTL", ValueFactory.newExtension((byte) -1, ns64)), "64-bit 10^9 ns");
    byte[] ns96 = {0x3B, (byte) 0x9A, (byte) 0xCA, 0, 0, 0, 0, 0, 0, 0, 0, 0}; // 10^9 ns
    assertMalformed(
        withRouteField(0, "TTL", ValueFactory.newExtension((byte) -1, ns96)), "96-bit 10^9 ns");
    byte[] farFuture = {
      0,
      0,
      0,
      0,
      0x7F,
      (byte) 0xFF,
      (byte) 0xFF,
      (byte) 0xFF,
      (byte) 0xFF,
      (byte) 0xFF,
      (byte) 0xFF,
      (byte) 0xFF
    };
    assertMalformed(
        withRouteField(0, "TTL", ValueFactory.newExtension((byte) -1, farFuture)),
        "beyond Instant");
  }

  @Test
  void invalidUtf8IsMalformed() {
    byte[] bad = {'n', 'a', 'r', '/', (byte) 0xFF, (byte) 0xC0, (byte) 0x80};
    assertMalformed(withRouteField(0, "NarURL", ValueFactory.newString(bad)), "invalid UTF-8");
    byte[] surrogate = {(byte) 0xED, (byte) 0xA0, (byte) 0x80}; // CESU-style lone surrogate
    assertMalformed(
        withMessageField(TWO_ROUTES_BODY, "NodeID", ValueFactory.newString(surrogate)),
        "surrogate");
  }

  @Test
  void trailingBytesAreMalformed() {
    for (String tail : new String[] {"00", "c0", "c1", "84", "ffffffff"}) {
      byte[] body = concat(TWO_ROUTES_BODY, HexFormat.of().parseHex(tail));
      assertThat(assertMalformed(body, "tail " + tail)).hasMessageContaining("trailing");
    }
  }

  @Test
  void notAMapIsMalformed() {
    for (String hex :
        new String[] {"", "c0", "c1", "90", "01", "a3616263", "c3", "d6ff00000000", "80"}) {
      assertMalformed(HexFormat.of().parseHex(hex), hex);
    }
    assertThatThrownBy(() -> GossipCodec.decodeBody(null)).isInstanceOf(PacketException.class);
  }

  // ---------------------------------------------------------------------------- hostile input

  @Test
  void truncationAtEveryOffsetIsRefused() {
    for (int length = 0; length < TWO_ROUTES_PACKET.length; length++) {
      byte[] prefix = Arrays.copyOf(TWO_ROUTES_PACKET, length);
      DropReason expected = length < 96 ? DropReason.MALFORMED : DropReason.BAD_SIGNATURE;
      assertThat(openFails(prefix, length).reason())
          .as("packet cut at %d", length)
          .isEqualTo(expected);
      // The same datagram in a buffer with the rest still there: only `length` bytes count.
      assertThat(openFails(TWO_ROUTES_PACKET, length).reason()).isEqualTo(expected);
    }
    for (int length = 0; length < TWO_ROUTES_BODY.length; length++) {
      assertMalformed(Arrays.copyOf(TWO_ROUTES_BODY, length), "body cut at " + length);
    }
  }

  /** Truncations of a correctly signed body: past the signature, the decoder must refuse them. */
  @Test
  void signedTruncationsAreMalformed() {
    for (int length = 0; length < TWO_ROUTES_BODY.length; length++) {
      byte[] packet = signedPacket(ID, Arrays.copyOf(TWO_ROUTES_BODY, length));
      assertThat(openFails(packet, packet.length).reason()).isEqualTo(DropReason.MALFORMED);
    }
  }

  @Test
  void hugeLengthHeadersAreRefusedWithoutAllocating() {
    String head = headUpToRoutes(); // map header ... "Routes" key, value missing
    String[] values = {
      "dd7fffffff",
      "ddffffffff",
      "dc7fff", // arrays: 2^31-1, 2^32-1, 32767 elements
      "df7fffffff",
      "dfffffffff", // maps
      "db7fffffff",
      "dbffffffff",
      "da7fff",
      "d9ff", // strings
      "c67fffffff",
      "c6ffffffff", // bin
      "c97fffffffff",
      "c9ffffffffff",
      "c8ffffff",
      "c7ffff", // ext
    };
    for (String value : values) {
      assertMalformed(HexFormat.of().parseHex(head + value), "Routes = " + value);
      // The same header as the value of an unknown key, which takes the skipping path.
      assertMalformed(
          HexFormat.of()
              .parseHex(
                  "85a15a" + value + HexFormat.of().formatHex(TWO_ROUTES_BODY).substring(2)),
          "unknown = " + value);
      // And as the top-level value.
      assertMalformed(HexFormat.of().parseHex(value), "top = " + value);
    }
    // A route count that would fit the bytes left, but no routes behind it.
    assertMalformed(HexFormat.of().parseHex(head + "dc0100" + "c0".repeat(256)), "256 nil routes");
    // Strings claiming more than is there, in every string position.
    assertMalformed(
        HexFormat.of().parseHex("84a454797065cc01a64e6f64654944db7fffffff41"), "NodeID str32");
  }

  @Test
  void deepNestingIsRefusedOrSkippedWithoutRecursion() throws Exception {
    // 60 000 nested arrays as the value of an unknown key: skipped, the message decodes.
    byte[] deep = concat(HexFormat.of().parseHex("85a15a"), nestedBytes(60_000));
    byte[] body = concat(deep, Arrays.copyOfRange(TWO_ROUTES_BODY, 1, TWO_ROUTES_BODY.length));
    assertThat(GossipCodec.decodeBody(body)).isEqualTo(GossipCodec.decodeBody(TWO_ROUTES_BODY));
    // Deep nesting where a map is expected, and nested maps never closed.
    assertMalformed(nestedBytes(60_000), "top-level nesting");
    byte[] maps = new byte[60_000];
    for (int i = 0; i < maps.length; i += 3) {
      maps[i] = (byte) 0x81;
      if (i + 2 < maps.length) {
        maps[i + 1] = (byte) 0xa1;
        maps[i + 2] = 'k';
      }
    }
    assertMalformed(concat(HexFormat.of().parseHex("85a15a"), maps), "open maps");
    // Nesting in place of Routes.
    assertMalformed(
        HexFormat.of().parseHex(headUpToRoutes() + "91".repeat(60_000) + "c0"), "nested Routes");
  }

  @Test
  void hostileBodiesOfMaximumSizeDecodeInLinearTime() {
    // 32 000 tiny unknown keys; 21 000 empty maps in an unknown array; a map of 65 000 claimed
    // entries with 32 000 present. Each must be refused or accepted quickly.
    List<byte[]> bodies = new ArrayList<>();
    String pairs = "a0c0".repeat(32_000);
    bodies.add(HexFormat.of().parseHex("de7d04" + pairs)); // 32 004 claimed, 32 000 present
    bodies.add(HexFormat.of().parseHex("de7d00" + pairs)); // all present, message keys missing
    bodies.add(HexFormat.of()
        .parseHex("85a15adc5208" + "80".repeat(21_000)
            + HexFormat.of().formatHex(TWO_ROUTES_BODY).substring(2)));
    bodies.add(HexFormat.of().parseHex("defde8" + pairs)); // 65 000 claimed
    long start = System.nanoTime();
    for (int round = 0; round < 20; round++) {
      for (byte[] body : bodies) {
        try {
          GossipCodec.decodeBody(body);
        } catch (PacketException expected) {
          assertThat(expected.reason()).isEqualTo(DropReason.MALFORMED);
        }
      }
    }
    Duration took = Duration.ofNanos(System.nanoTime() - start);
    assertThat(took).isLessThan(Duration.ofSeconds(10));
  }

  @Test
  void randomMutationsOnlyEverThrowPacketException() {
    Random random = new Random(7);
    byte[][] seeds = {TWO_ROUTES_PACKET, MeshVectors.named("announce-no-routes").packet()};
    for (int i = 0; i < 20_000; i++) {
      byte[] packet = seeds[i % seeds.length].clone();
      int flips = 1 + random.nextInt(4);
      for (int f = 0; f < flips; f++) {
        packet[random.nextInt(packet.length)] = (byte) random.nextInt(256);
      }
      byte[] body = Arrays.copyOfRange(packet, 96, packet.length);
      decodeOrPacketException(body);
      if (i % 20 != 0) {
        continue; // JDK ed25519 costs ~0.7 ms a signature: re-sign only a sample
      }
      // Re-signed, so that the mutation reaches the decoder through open().
      try {
        GossipCodec.open(signedPacket(ID, body), 96 + body.length);
      } catch (PacketException expected) {
        assertThat(expected.reason()).isIn(DropReason.MALFORMED);
        assertExpectedCause(expected);
      }
    }
  }

  private static void decodeOrPacketException(byte[] body) {
    try {
      GossipMessage m = GossipCodec.decodeBody(body);
      // Whatever is accepted re-encodes and decodes to itself.
      assertThat(uncheckedDecode(GossipCodec.encodeBody(m))).isEqualTo(m);
    } catch (PacketException expected) {
      assertThat(expected.reason()).isEqualTo(DropReason.MALFORMED);
      assertExpectedCause(expected);
    }
  }

  /** A cause other than msgpack-core reporting bad input or end of input would be a decoder bug. */
  static void assertExpectedCause(PacketException e) {
    Throwable cause = e.getCause();
    if (cause != null
        && !(cause instanceof MessagePackException)
        && !(cause instanceof IOException)) {
      fail("decoder bug surfaced as " + cause, cause);
    }
  }

  // ----------------------------------------------------------------------------------- open()

  @Test
  void oversizeIsCheckedFirst() {
    byte[] big = new byte[GossipCodec.MAX_PACKET_BYTES + 1];
    assertThat(openFails(big, big.length).reason()).isEqualTo(DropReason.OVERSIZE);
    byte[] exactly = new byte[GossipCodec.MAX_PACKET_BYTES];
    assertThat(openFails(exactly, exactly.length).reason()).isEqualTo(DropReason.BAD_SIGNATURE);
  }

  @Test
  void peekSenderAppliesOnlyTheSizeChecks() {
    byte[] packet = TWO_ROUTES_PACKET.clone();
    packet[40] ^= 1; // the signature no longer verifies: peekSender does not look
    assertThat(catchPacket(() -> GossipCodec.peekSender(packet, packet.length))).isNull();
    assertThat(peek(packet)).isEqualTo(ID.publicKey());
    assertThat(catchPacket(() -> GossipCodec.peekSender(new byte[95], 95)).reason())
        .isEqualTo(DropReason.MALFORMED);
    assertThat(
            catchPacket(() -> GossipCodec.peekSender(new byte[65_537], 65_537)).reason())
        .isEqualTo(DropReason.OVERSIZE);
    assertThat(peek(new byte[96])).isEqualTo(new byte[32]);
  }

  private interface PacketCall {
    void run() throws PacketException;
  }

  private static PacketException catchPacket(PacketCall call) {
    try {
      call.run();
      return null;
    } catch (PacketException e) {
      return e;
    }
  }

  private static byte[] peek(byte[] packet) {
    try {
      return GossipCodec.peekSender(packet, packet.length);
    } catch (PacketException e) {
      throw new AssertionError(e);
    }
  }

  @Test
  void aNodeIdThatIsNotTheSignersIsMalformed() {
    GossipMessage claimsOther = new GossipMessage(1, "da29e95b02e00ffa", 1, List.of());
    byte[] packet = signedPacket(ID, GossipCodec.encodeBody(claimsOther));
    PacketException e = openFails(packet, packet.length);
    assertThat(e.reason()).isEqualTo(DropReason.MALFORMED);
    assertThat(e).hasMessageContaining("da29e95b02e00ffa").hasMessageContaining(ID.nodeId());
    // Upper-case hex is another string: the original writes lower case.
    GossipMessage upper = new GossipMessage(1, ID.nodeId().toUpperCase(), 1, List.of());
    byte[] upperPacket = signedPacket(ID, GossipCodec.encodeBody(upper));
    assertThat(openFails(upperPacket, upperPacket.length).reason()).isEqualTo(DropReason.MALFORMED);
  }

  @Test
  void aSignatureFromAnotherKeyIsBadSignature() {
    byte[] packet = GossipCodec.seal(ID, new GossipMessage(1, ID.nodeId(), 1, List.of()));
    byte[] otherSignature =
        NodeIdentity.ephemeral().sign(Arrays.copyOfRange(packet, 96, packet.length));
    System.arraycopy(otherSignature, 0, packet, 32, 64);
    assertThat(openFails(packet, packet.length).reason()).isEqualTo(DropReason.BAD_SIGNATURE);
  }

  @Test
  void openRefusesInconsistentArguments() {
    assertThatThrownBy(() -> GossipCodec.open(new byte[10], 11))
        .isInstanceOf(IllegalArgumentException.class);
    assertThatThrownBy(() -> GossipCodec.open(new byte[10], -1))
        .isInstanceOf(IllegalArgumentException.class);
  }

  @Test
  void sealRefusesAForeignNodeIdAndOversizedMessages() {
    assertThatThrownBy(
            () -> GossipCodec.seal(ID, new GossipMessage(1, "0000000000000000", 1, List.of())))
        .isInstanceOf(IllegalArgumentException.class);
    List<GossipRoute> many = realisticRoutes(new Random(3), 400);
    assertThatThrownBy(() -> GossipCodec.seal(ID, new GossipMessage(1, ID.nodeId(), 1, many)))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("sealAnnounce");
  }

  // ---------------------------------------------------------------------------- sealAnnounce

  @Test
  void twoThousandRoutesSplitIntoFewDatagramsInOrder() throws Exception {
    List<GossipRoute> routes = realisticRoutes(new Random(4), 2_000);
    long first = NOV_2026 * 1_000_000_000L;
    List<byte[]> packets = GossipCodec.sealAnnounce(ID, first, routes, 65_000);

    assertThat(packets.size()).isGreaterThan(1);
    List<GossipRoute> received = new ArrayList<>();
    long previous = Long.MIN_VALUE;
    for (int i = 0; i < packets.size(); i++) {
      byte[] packet = packets.get(i);
      assertThat(packet.length).isLessThanOrEqualTo(65_000);
      GossipCodec.Opened opened = GossipCodec.open(packet, packet.length);
      assertThat(opened.senderPublicKey()).isEqualTo(ID.publicKey());
      GossipMessage m = opened.message();
      assertThat(m.type()).isEqualTo(GossipMessage.ANNOUNCE);
      assertThat(m.nodeId()).isEqualTo(ID.nodeId());
      assertThat(m.timestampNanos()).isEqualTo(first + i).isGreaterThan(previous);
      previous = m.timestampNanos();
      received.addAll(m.routes());
      if (i < packets.size() - 1) { // greedy: the next route would not have fitted
        GossipRoute next = routes.get(received.size());
        assertThat(packet.length + GossipCodec.encodedRouteSize(next)).isGreaterThan(65_000);
      }
    }
    assertThat(received).containsExactlyElementsOf(routes);
    // Fewest datagrams: no fewer can carry the bytes.
    long routeBytes = routes.stream().mapToLong(GossipCodec::encodedRouteSize).sum();
    int perDatagram = 65_000 - 96 - 60 - 3;
    assertThat(packets.size())
        .isLessThanOrEqualTo((int) Math.ceil((double) routeBytes / perDatagram) + 1);
    System.out.printf(
        "sealAnnounce: 2000 routes -> %d datagrams (max 65000 bytes), sizes %s%n",
        packets.size(), packets.stream().map(p -> p.length).toList());
  }

  @Test
  void smallDatagramLimitsStillCarryEveryRoute() throws Exception {
    List<GossipRoute> routes = realisticRoutes(new Random(5), 300);
    for (int max : new int[] {600, 1_200, 1_472, 9_000}) {
      List<byte[]> packets = GossipCodec.sealAnnounce(ID, 100, routes, max);
      List<GossipRoute> received = new ArrayList<>();
      for (int i = 0; i < packets.size(); i++) {
        assertThat(packets.get(i).length).isLessThanOrEqualTo(max);
        GossipMessage m =
            GossipCodec.open(packets.get(i), packets.get(i).length).message();
        assertThat(m.timestampNanos()).isEqualTo(100 + i);
        assertThat(m.routes()).isNotEmpty();
        received.addAll(m.routes());
      }
      assertThat(received).containsExactlyElementsOf(routes);
    }
  }

  @Test
  void zeroRoutesGiveOneEmptyAnnounce() throws Exception {
    List<byte[]> packets = GossipCodec.sealAnnounce(ID, 42, List.of(), 65_000);
    assertThat(packets).hasSize(1);
    GossipMessage m = GossipCodec.open(packets.get(0), packets.get(0).length).message();
    assertThat(m).isEqualTo(new GossipMessage(1, ID.nodeId(), 42, List.of()));
  }

  @Test
  void aRouteTooLargeForAnyDatagramIsSkipped() throws Exception {
    List<GossipRoute> routes = new ArrayList<>(realisticRoutes(new Random(6), 5));
    GossipRoute huge = withNarUrl(routes.get(2), "nar/" + "x".repeat(70_000));
    routes.set(2, huge);
    List<byte[]> packets = GossipCodec.sealAnnounce(ID, 1, routes, 65_000);
    assertThat(packets).hasSize(1);
    List<GossipRoute> expected = new ArrayList<>(routes);
    expected.remove(2);
    assertThat(GossipCodec.open(packets.get(0), packets.get(0).length).message().routes())
        .containsExactlyElementsOf(expected);

    List<byte[]> onlyHuge = GossipCodec.sealAnnounce(ID, 1, List.of(huge), 65_000);
    assertThat(onlyHuge).hasSize(1);
    assertThat(
            GossipCodec.open(onlyHuge.get(0), onlyHuge.get(0).length).message().routes())
        .isEmpty();
  }

  @Test
  void sealAnnounceRefusesImpossibleLimits() {
    assertThatThrownBy(() -> GossipCodec.sealAnnounce(ID, 1, List.of(), 65_537))
        .isInstanceOf(IllegalArgumentException.class);
    assertThatThrownBy(() -> GossipCodec.sealAnnounce(ID, 1, List.of(), 100))
        .isInstanceOf(IllegalArgumentException.class);
    assertThatThrownBy(() ->
            GossipCodec.sealAnnounce(ID, Long.MAX_VALUE, realisticRoutes(new Random(1), 2), 600))
        .isInstanceOf(IllegalArgumentException.class);
  }

  /** The figure for the issue note: a realistic 100-route announce. */
  @Test
  void sizeOfARealistic100RouteAnnounce() {
    List<GossipRoute> routes = realisticRoutes(new Random(100), 100);
    List<byte[]> packets = GossipCodec.sealAnnounce(ID, NOV_2026 * 1_000_000_000L, routes, 65_000);
    assertThat(packets).hasSize(1);
    int size = packets.get(0).length;
    int perRoute = (size - 96 - 58 - 3) / 100;
    System.out.printf(
        "announce of 100 realistic routes (cache.nixos.org): %d bytes per datagram "
            + "(96 header + %d body), about %d bytes per route, so about %d routes per 65000-byte datagram%n",
        size, size - 96, perRoute, (65_000 - 96 - 61) / perRoute);
    assertThat(size).isBetween(20_000, 45_000);
  }

  // ---------------------------------------------------------------------------------- helpers

  private static PacketException assertMalformed(byte[] body, String what) {
    try {
      GossipMessage m = GossipCodec.decodeBody(body);
      throw new AssertionError(what + ": accepted as " + m);
    } catch (PacketException e) {
      assertThat(e.reason()).as(what).isEqualTo(DropReason.MALFORMED);
      assertExpectedCause(e);
      return e;
    }
  }

  private static PacketException openFails(byte[] packet, int length) {
    try {
      GossipCodec.Opened opened = GossipCodec.open(packet, length);
      throw new AssertionError("accepted: " + opened.message());
    } catch (PacketException e) {
      return e;
    }
  }

  static byte[] signedPacket(NodeIdentity id, byte[] body) {
    byte[] packet = new byte[96 + body.length];
    System.arraycopy(id.publicKey(), 0, packet, 0, 32);
    System.arraycopy(id.sign(body), 0, packet, 32, 64);
    System.arraycopy(body, 0, packet, 96, body.length);
    return packet;
  }

  private static GossipMessage uncheckedDecode(byte[] body) {
    try {
      return GossipCodec.decodeBody(body);
    } catch (PacketException e) {
      throw new AssertionError("re-encoded message does not decode", e);
    }
  }

  /** The two-route body's bytes up to the Routes key, as hex. */
  private static String headUpToRoutes() {
    String hex = HexFormat.of().formatHex(TWO_ROUTES_BODY);
    String routesKey = "a6526f75746573";
    return hex.substring(0, hex.indexOf(routesKey) + routesKey.length());
  }

  private static byte[] nestedBytes(int depth) {
    byte[] out = new byte[depth + 1];
    Arrays.fill(out, (byte) 0x91);
    out[depth] = (byte) 0xc0;
    return out;
  }

  private static Value nested(int depth) {
    Value v = ValueFactory.newNil();
    for (int i = 0; i < depth; i++) {
      v = ValueFactory.newArray(v);
    }
    return v;
  }

  private static Value str(String s) {
    return ValueFactory.newString(s);
  }

  private static Map<Value, Value> mapOf(byte[] body) {
    try (MessageUnpacker in = MessagePack.newDefaultUnpacker(body)) {
      return new LinkedHashMap<>(in.unpackValue().asMapValue().map());
    } catch (IOException e) {
      throw new AssertionError(e);
    }
  }

  private static Map<Value, Value> reversed(Map<Value, Value> map) {
    List<Map.Entry<Value, Value>> entries = new ArrayList<>(map.entrySet());
    Collections.reverse(entries);
    Map<Value, Value> out = new LinkedHashMap<>();
    for (Map.Entry<Value, Value> e : entries) {
      out.put(e.getKey(), e.getValue());
    }
    return out;
  }

  private static byte[] pack(Value v) {
    try (MessageBufferPacker out = MessagePack.newDefaultBufferPacker()) {
      out.packValue(v);
      return out.toByteArray();
    } catch (IOException e) {
      throw new AssertionError(e);
    }
  }

  /** The body with a message field replaced (or removed, when {@code value} is null). */
  private static byte[] withMessageField(byte[] body, String field, Value value) {
    Map<Value, Value> message = mapOf(body);
    assertThat(message).containsKey(str(field));
    if (value == null) {
      message.remove(str(field));
    } else {
      message.put(str(field), value);
    }
    return pack(ValueFactory.newMap(message));
  }

  private static byte[] withRouteField(int route, String field, Value value) {
    return withRouteField(TWO_ROUTES_BODY, route, field, value);
  }

  private static byte[] withRouteField(byte[] body, int route, String field, Value value) {
    Map<Value, Value> message = mapOf(body);
    List<Value> routes =
        new ArrayList<>(message.get(str("Routes")).asArrayValue().list());
    Map<Value, Value> r = new LinkedHashMap<>(routes.get(route).asMapValue().map());
    assertThat(r).containsKey(str(field));
    if (value == null) {
      r.remove(str(field));
    } else {
      r.put(str(field), value);
    }
    routes.set(route, ValueFactory.newMap(r));
    message.put(str("Routes"), ValueFactory.newArray(routes));
    return pack(ValueFactory.newMap(message));
  }

  private static byte[] concat(byte[] a, byte[] b) {
    byte[] out = Arrays.copyOf(a, a.length + b.length);
    System.arraycopy(b, 0, out, a.length, b.length);
    return out;
  }

  private static String base32(Random random, int length) {
    StringBuilder s = new StringBuilder(length);
    for (int i = 0; i < length; i++) {
      s.append(NIX_BASE32.charAt(random.nextInt(32)));
    }
    return s.toString();
  }

  /** Routes as ncro would announce them: real-looking hashes, cache.nixos.org, 2026 times. */
  static List<GossipRoute> realisticRoutes(Random random, int count) {
    List<GossipRoute> routes = new ArrayList<>(count);
    String[] upstreams = {
      "https://cache.nixos.org", "https://cache.nixos.org", "https://nix-community.cachix.org"
    };
    for (int i = 0; i < count; i++) {
      Instant verified =
          Instant.ofEpochSecond(NOV_2026 - random.nextInt(3600), random.nextInt(1_000_000_000));
      String fileHash = base32(random, 52);
      routes.add(new GossipRoute(
          base32(random, 32),
          upstreams[random.nextInt(upstreams.length)],
          Math.round(random.nextDouble(5, 400) * 1000) / 1000.0,
          random.nextDouble(5, 400),
          verified,
          1 + random.nextInt(50),
          random.nextInt(3),
          verified.plusSeconds(3600),
          "sha256:" + base32(random, 52),
          1_000 + random.nextInt(400_000_000),
          "nar/" + fileHash + (random.nextBoolean() ? ".nar.xz" : ".nar.zst")));
    }
    return routes;
  }

  private static GossipMessage randomMessage(Random random, int routes) {
    List<GossipRoute> list = new ArrayList<>();
    for (int i = 0; i < routes; i++) {
      list.add(route(random, i).route());
    }
    return new GossipMessage(1, randomString(random), random.nextLong(), list);
  }

  private record RouteHolder(GossipRoute route) {
    RouteHolder withCounts(long query, long failure) {
      GossipRoute r = route;
      return new RouteHolder(new GossipRoute(
          r.storePath(),
          r.upstreamUrl(),
          r.latencyMs(),
          r.latencyEma(),
          r.lastVerified(),
          query,
          failure,
          r.expiresAt(),
          r.narHash(),
          r.narSize(),
          r.narUrl()));
    }
  }

  private static RouteHolder route(Random random, int i) {
    return new RouteHolder(new GossipRoute(
        randomString(random),
        randomString(random),
        randomDouble(random),
        randomDouble(random),
        randomInstant(random),
        random.nextLong(GossipWire.UINT32_MAX + 1),
        i % 7 == 0 ? GossipWire.UINT32_MAX : random.nextInt(5),
        randomInstant(random),
        randomString(random),
        i % 5 == 0 ? Long.MAX_VALUE : random.nextLong(Long.MAX_VALUE),
        randomString(random)));
  }

  private static GossipRoute withNarSize(GossipRoute r, long narSize) {
    return new GossipRoute(
        r.storePath(),
        r.upstreamUrl(),
        r.latencyMs(),
        r.latencyEma(),
        r.lastVerified(),
        r.queryCount(),
        r.failureCount(),
        r.expiresAt(),
        r.narHash(),
        narSize,
        r.narUrl());
  }

  private static GossipRoute withNarUrl(GossipRoute r, String narUrl) {
    return new GossipRoute(
        r.storePath(),
        r.upstreamUrl(),
        r.latencyMs(),
        r.latencyEma(),
        r.lastVerified(),
        r.queryCount(),
        r.failureCount(),
        r.expiresAt(),
        r.narHash(),
        r.narSize(),
        narUrl);
  }

  private static double randomDouble(Random random) {
    return switch (random.nextInt(4)) {
      case 0 -> random.nextDouble() * 1000;
      case 1 -> random.nextInt(1000); // integral doubles: still float64 on the wire
      case 2 -> -random.nextDouble();
      default -> random.nextGaussian() * 1e6;
    };
  }

  private static Instant randomInstant(Random random) {
    return switch (random.nextInt(4)) {
      case 0 -> Instant.ofEpochSecond(random.nextLong(1L << 32)); // timestamp32
      case 1 ->
        Instant.ofEpochSecond(random.nextLong(1L << 34), random.nextInt(1_000_000_000)); // 64
      case 2 ->
        Instant.ofEpochSecond(
            random.nextLong(-62_135_596_800L, 253_402_300_799L), random.nextInt(1_000_000_000));
      default ->
        Instant.ofEpochSecond(NOV_2026 + random.nextInt(86_400), random.nextInt(1_000_000_000));
    };
  }

  private static String randomString(Random random) {
    int length = switch (random.nextInt(5)) {
      case 0 -> 0;
      case 1 -> random.nextInt(32);
      case 2 -> 32 + random.nextInt(224);
      case 3 -> 256 + random.nextInt(2_000);
      default -> random.nextInt(80);
    };
    StringBuilder s = new StringBuilder(length);
    for (int i = 0; i < length; i++) {
      int kind = random.nextInt(10);
      if (kind < 6) {
        s.append((char) (0x20 + random.nextInt(0x5f)));
      } else if (kind < 8) {
        s.append((char) (0xa0 + random.nextInt(0xd7ff - 0xa0))); // BMP, no surrogates
      } else {
        s.appendCodePoint(0x10000 + random.nextInt(0x10ffff - 0x10000)); // surrogate pairs
      }
    }
    return s.toString();
  }
}

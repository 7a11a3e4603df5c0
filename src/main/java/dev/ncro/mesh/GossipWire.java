package dev.ncro.mesh;

import java.util.List;

/**
 * The fixed facts of the original Go ncro's gossip wire format (DESIGN.md section 5), in one place
 * so that the writer, the reader, the announce packer and the packet layer cannot disagree about
 * them: the datagram limit, the header, the msgpack map keys and the ranges of the original's Go
 * types.
 *
 * <p>A datagram is {@code [32-byte sender ed25519 public key][64-byte signature of the body][msgpack
 * body]}. The body is what Go's {@code vmihailenco/msgpack/v5} makes of the original's structs: a
 * map keyed by the Go field names below. Times are the msgpack timestamp extension (type -1).
 */
final class GossipWire {
  /** Longest datagram accepted; a longer one is dropped as {@link DropReason#OVERSIZE}. */
  static final int MAX_PACKET_BYTES = 65_536;
  /** Public key and signature in front of the body. */
  static final int HEADER_BYTES = NodeIdentity.PUBLIC_KEY_BYTES + NodeIdentity.SIGNATURE_BYTES;

  /** Largest value of the original's uint32 counters ({@code QueryCount}, {@code FailureCount}). */
  static final long UINT32_MAX = 0xFFFF_FFFFL;
  /** The msgpack extension type of a timestamp. */
  static final int TIMESTAMP_EXT_TYPE = -1;

  // Message keys: the original's Go struct field names, in its order (the order the writer uses).
  static final String TYPE = "Type";
  static final String NODE_ID = "NodeID";
  static final String TIMESTAMP = "Timestamp";
  static final String ROUTES = "Routes";

  // Route keys, likewise.
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

  /** Every key of a message, each required exactly once. */
  static final List<String> MESSAGE_KEYS = List.of(TYPE, NODE_ID, TIMESTAMP, ROUTES);
  /** Every key of a route, each required exactly once. */
  static final List<String> ROUTE_KEYS = List.of(
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

  private GossipWire() {}
}

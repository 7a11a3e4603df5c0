package dev.ncro.mesh;

import static dev.ncro.mesh.BoundedUnpacker.malformed;
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
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import org.msgpack.core.MessageInsufficientBufferException;
import org.msgpack.core.MessagePack;
import org.msgpack.core.MessagePackException;
import org.msgpack.core.MessageUnpacker;

/**
 * Decodes a gossip body into a {@link GossipMessage} in one pass, in the original's shape: the
 * message map and the route maps, each key required exactly once and read by name (the reads of
 * single values, each checked against the bytes left, are {@link BoundedUnpacker}'s). Whatever goes
 * wrong comes out as one {@link PacketException} (MALFORMED), so a receive loop has one catch.
 */
final class GossipBodyReader {
  private final BoundedUnpacker in;

  private GossipBodyReader(BoundedUnpacker in) {
    this.in = in;
  }

  /** See {@link GossipCodec#decodeBody} for what is accepted and what is refused. */
  static GossipMessage decode(byte[] body) throws PacketException {
    if (body == null) {
      throw new PacketException(DropReason.MALFORMED, "no body");
    }
    try (MessageUnpacker unpacker = MessagePack.newDefaultUnpacker(body)) {
      BoundedUnpacker in = new BoundedUnpacker(unpacker, body.length);
      GossipMessage message = new GossipBodyReader(in).message();
      if (in.remaining() != 0) {
        throw malformed(in.remaining() + " trailing bytes after the message");
      }
      return message;
    } catch (PacketException e) {
      throw e;
    } catch (MessageInsufficientBufferException e) {
      throw new PacketException(DropReason.MALFORMED, "truncated body", e);
    } catch (MessagePackException | IOException e) {
      throw new PacketException(
          DropReason.MALFORMED, "not a gossip message body: " + e.getMessage(), e);
    } catch (RuntimeException e) {
      // Backstop so that a receive loop never dies on a packet; the cause's type tells a decoder
      // bug (the fuzz test fails on it) from msgpack-core reporting bad input.
      throw new PacketException(DropReason.MALFORMED, "unexpected decoder failure: " + e, e);
    }
  }

  private GossipMessage message() throws IOException, PacketException {
    int entries = in.mapHeader("message");
    Keys keys = new Keys(MESSAGE_KEYS);
    int type = 0;
    String nodeId = null;
    long timestamp = 0;
    List<GossipRoute> routes = null;
    for (int i = 0; i < entries; i++) {
      String key = in.string("message key");
      if (!keys.first(key)) {
        in.skipValue(key);
        continue;
      }
      switch (key) {
        case TYPE -> type = announceType();
        case NODE_ID -> nodeId = in.string(NODE_ID);
        case TIMESTAMP -> timestamp = in.integer(TIMESTAMP);
        case ROUTES -> routes = routes();
        default -> throw new IllegalStateException("message key " + key + " has no reader");
      }
    }
    keys.requireAll("message");
    return new GossipMessage(type, nodeId, timestamp, routes);
  }

  private int announceType() throws IOException, PacketException {
    long t = in.integer(TYPE);
    if (t != GossipMessage.ANNOUNCE) {
      throw malformed("unknown Type " + t);
    }
    return (int) t;
  }

  private List<GossipRoute> routes() throws IOException, PacketException {
    if (in.nil(ROUTES)) {
      return List.of();
    }
    int count = in.arrayHeader(ROUTES, "an array or nil"); // each route takes at least a byte
    List<GossipRoute> routes = new ArrayList<>(Math.min(count, 256));
    for (int i = 0; i < count; i++) {
      routes.add(route());
    }
    return routes;
  }

  private GossipRoute route() throws IOException, PacketException {
    int entries = in.mapHeader("route");
    Keys keys = new Keys(ROUTE_KEYS);
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
      String key = in.string("route key");
      if (!keys.first(key)) {
        in.skipValue(key);
        continue;
      }
      switch (key) {
        case STORE_PATH -> storePath = in.string(STORE_PATH);
        case UPSTREAM_URL -> upstreamUrl = in.string(UPSTREAM_URL);
        case LATENCY_MS -> latencyMs = in.number(LATENCY_MS);
        case LATENCY_EMA -> latencyEma = in.number(LATENCY_EMA);
        case LAST_VERIFIED -> lastVerified = in.timestamp(LAST_VERIFIED);
        case QUERY_COUNT -> queryCount = in.integerIn(QUERY_COUNT, 0, UINT32_MAX);
        case FAILURE_COUNT -> failureCount = in.integerIn(FAILURE_COUNT, 0, UINT32_MAX);
        case TTL -> expiresAt = in.timestamp(TTL);
        case NAR_HASH -> narHash = in.string(NAR_HASH);
        case NAR_SIZE -> narSize = in.integerIn(NAR_SIZE, 0, Long.MAX_VALUE);
        case NAR_URL -> narUrl = in.string(NAR_URL);
        default -> throw new IllegalStateException("route key " + key + " has no reader");
      }
    }
    keys.requireAll("route");
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

  /** The keys of one map seen so far: each known key once, and all of them by the end. */
  private static final class Keys {
    private final List<String> known;
    private final Set<String> seen = new HashSet<>();

    Keys(List<String> known) {
      this.known = known;
    }

    /** False for an unknown key (to be skipped); refuses a known key seen before. */
    boolean first(String key) throws PacketException {
      if (!known.contains(key)) {
        return false;
      }
      if (!seen.add(key)) {
        throw malformed("key " + key + " appears twice");
      }
      return true;
    }

    void requireAll(String what) throws PacketException {
      if (seen.size() == known.size()) {
        return;
      }
      List<String> missing = known.stream().filter(k -> !seen.contains(k)).toList();
      throw malformed(what + " lacks " + String.join(", ", missing));
    }
  }
}

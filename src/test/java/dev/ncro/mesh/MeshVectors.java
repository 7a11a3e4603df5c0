package dev.ncro.mesh;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;

/**
 * The original ncro's gossip packets (copied from shared/mesh-vectors into the test resources, so
 * the suite does not depend on files outside the project), with their expected decoding.
 */
final class MeshVectors {
  private static final HexFormat HEX = HexFormat.of();

  record Vector(
      String name,
      byte[] seed,
      byte[] publicKey,
      byte[] privateKeyFile,
      byte[] packet,
      byte[] body,
      boolean valid,
      String note,
      GossipMessage message) {
    @Override
    public String toString() {
      return name;
    }
  }

  private MeshVectors() {}

  static List<Vector> all() {
    try (InputStream in = MeshVectors.class.getResourceAsStream("/mesh-vectors/vectors.json")) {
      if (in == null) {
        throw new IllegalStateException("mesh-vectors/vectors.json missing from test resources");
      }
      List<Vector> vectors = new ArrayList<>();
      for (JsonNode v : new ObjectMapper().readTree(in)) {
        vectors.add(new Vector(
            v.get("name").asText(),
            HEX.parseHex(v.get("signer_seed_hex").asText()),
            HEX.parseHex(v.get("signer_public_key_hex").asText()),
            HEX.parseHex(v.get("signer_private_key_file_hex").asText()),
            HEX.parseHex(v.get("packet_hex").asText()),
            HEX.parseHex(v.get("body_hex").asText()),
            v.get("valid").asBoolean(),
            v.get("note").asText(),
            v.has("message") ? message(v.get("message")) : null));
      }
      return vectors;
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  static List<Vector> valid() {
    return all().stream().filter(Vector::valid).toList();
  }

  static List<Vector> invalid() {
    return all().stream().filter(v -> !v.valid()).toList();
  }

  static Vector named(String name) {
    return all().stream()
        .filter(v -> v.name().equals(name))
        .findFirst()
        .orElseThrow(() -> new IllegalArgumentException("no vector " + name));
  }

  /** The raw packet file next to vectors.json, which must equal packet_hex. */
  static byte[] binFile(String name) {
    try (InputStream in = MeshVectors.class.getResourceAsStream("/mesh-vectors/" + name + ".bin")) {
      if (in == null) {
        throw new IllegalStateException("mesh-vectors/" + name + ".bin missing");
      }
      return in.readAllBytes();
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  private static GossipMessage message(JsonNode m) {
    List<GossipRoute> routes = new ArrayList<>();
    for (JsonNode r : m.get("Routes")) {
      routes.add(new GossipRoute(
          r.get("StorePath").asText(),
          r.get("UpstreamURL").asText(),
          r.get("LatencyMs").asDouble(),
          r.get("LatencyEMA").asDouble(),
          instant(r.get("LastVerified_unix_nanos").asLong()),
          r.get("QueryCount").asLong(),
          r.get("FailureCount").asLong(),
          instant(r.get("TTL_unix_nanos").asLong()),
          r.get("NarHash").asText(),
          r.get("NarSize").asLong(),
          r.get("NarURL").asText()));
    }
    return new GossipMessage(
        m.get("Type").asInt(), m.get("NodeID").asText(), m.get("Timestamp").asLong(), routes);
  }

  static Instant instant(long unixNanos) {
    return Instant.ofEpochSecond(
        Math.floorDiv(unixNanos, 1_000_000_000L), Math.floorMod(unixNanos, 1_000_000_000L));
  }
}

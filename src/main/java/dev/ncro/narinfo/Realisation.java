package dev.ncro.narinfo;

import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonToken;
import com.fasterxml.jackson.core.StreamReadConstraints;
import java.io.IOException;
import java.math.BigInteger;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Base64;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * A realisation ({@code realisations/<id>.doi}): the JSON document that tells a Nix client with
 * {@code ca-derivations} which store path a content-addressed derivation output resolved to. Like a
 * narinfo it is signed, and ncro checks the signature before serving it, because a forged
 * realisation would point a client at any path its attacker likes.
 *
 * <p>What Nix signs (Nix 2.8 {@code Realisation::fingerprint}, unchanged in later versions'
 * {@code UnkeyedRealisation::fingerprint}): the realisation's own JSON with the {@code signatures}
 * member removed, dumped by nlohmann::json: object members sorted by key, no whitespace. This class
 * keeps the parsed document generically (members ncro does not know are signed too) and re-dumps it
 * the same way. Checked against a realisation signed by Nix 2.8 (RealisationTest).
 *
 * <p>{@code body} is never re-serialised for the client: ncro serves the upstream's bytes.
 */
public final class Realisation {
  private static final JsonFactory JSON = JsonFactory.builder()
      .streamReadConstraints(StreamReadConstraints.builder()
          .maxNestingDepth(32)
          .maxStringLength(1 << 16)
          .build())
      .build();
  private final Map<String, Object> members;
  private final List<String> signatures;

  private Realisation(Map<String, Object> members, List<String> signatures) {
    this.members = members;
    this.signatures = signatures;
  }

  /** Parses a realisation; throws {@link NarInfoException} when it is not a JSON object with an {@code outPath}. */
  public static Realisation parse(byte[] body) throws NarInfoException {
    Object doc;
    try (JsonParser p = JSON.createParser(body)) {
      JsonToken first = p.nextToken();
      if (first != JsonToken.START_OBJECT) {
        throw new NarInfoException("realisation is not a JSON object");
      }
      doc = value(p, first);
      if (p.nextToken() != null) {
        throw new NarInfoException("trailing data after the realisation");
      }
    } catch (IOException e) {
      throw new NarInfoException("realisation is not valid JSON: " + e.getMessage());
    }
    @SuppressWarnings("unchecked")
    Map<String, Object> members = (Map<String, Object>) doc;
    if (!(members.get("outPath") instanceof String)) {
      throw new NarInfoException("realisation has no outPath");
    }
    List<String> sigs = new ArrayList<>();
    Object s = members.remove("signatures");
    if (s instanceof List<?> list) {
      for (Object o : list) {
        if (o instanceof String str) {
          sigs.add(str);
        }
      }
    } else if (s != null) {
      throw new NarInfoException("realisation signatures is not a list");
    }
    return new Realisation(members, List.copyOf(sigs));
  }

  /** The {@code id} member ({@code sha256:<hex>!<output>}), or null when there is none. */
  public String id() {
    return members.get("id") instanceof String s ? s : null;
  }

  public String outPath() {
    return (String) members.get("outPath");
  }

  public List<String> signatures() {
    return signatures;
  }

  /** The signed text: the document without {@code signatures}, keys sorted, compact, as nlohmann dumps it. */
  public String fingerprint() {
    StringBuilder sb = new StringBuilder();
    dump(sb, members);
    return sb.toString();
  }

  /** True when some signature is valid for one of {@code keys} (matched by name). */
  public boolean isSignedByAny(List<NixPublicKey> keys) {
    byte[] message = fingerprint().getBytes(StandardCharsets.UTF_8);
    for (String sig : signatures) {
      int colon = sig.indexOf(':');
      if (colon <= 0) {
        continue;
      }
      byte[] raw;
      try {
        raw = Base64.getDecoder().decode(sig.substring(colon + 1));
      } catch (IllegalArgumentException e) {
        continue;
      }
      String name = sig.substring(0, colon);
      for (NixPublicKey k : keys) {
        if (k.name().equals(name) && k.verify(message, raw)) {
          return true;
        }
      }
    }
    return false;
  }

  private static Object value(JsonParser p, JsonToken t) throws IOException, NarInfoException {
    switch (t) {
      case START_OBJECT -> {
        // nlohmann::json's object is a std::map<std::string, ...>: keys in byte order of their
        // UTF-8.
        Map<String, Object> m = new TreeMap<>(Realisation::compareUtf8);
        for (JsonToken k = p.nextToken(); k != JsonToken.END_OBJECT; k = p.nextToken()) {
          String name = wellFormed(p.currentName());
          m.put(name, value(p, p.nextToken()));
        }
        return m;
      }
      case START_ARRAY -> {
        List<Object> l = new ArrayList<>();
        for (JsonToken e = p.nextToken(); e != JsonToken.END_ARRAY; e = p.nextToken()) {
          l.add(value(p, e));
        }
        return l;
      }
      case VALUE_STRING -> {
        return wellFormed(p.getText());
      }
      case VALUE_NUMBER_INT -> {
        return p.getBigIntegerValue();
      }
      case VALUE_TRUE -> {
        return Boolean.TRUE;
      }
      case VALUE_FALSE -> {
        return Boolean.FALSE;
      }
      case VALUE_NULL -> {
        return JsonNull.NULL;
      }
      default ->
        throw new NarInfoException(
            "realisation holds a value ncro cannot re-serialise exactly: " + t);
    }
  }

  private enum JsonNull {
    NULL
  }

  /**
   * {@code s} when it is well-formed UTF-16. A lone surrogate (an escape such as {@code \\udc00}) has
   * no UTF-8 form, so its re-serialisation could not be what was signed; nlohmann::json, which Nix
   * parses realisations with, refuses it too (found by RealisationFuzzTest).
   */
  private static String wellFormed(String s) throws NarInfoException {
    for (int i = 0; i < s.length(); i++) {
      char c = s.charAt(i);
      if (Character.isHighSurrogate(c)
          && i + 1 < s.length()
          && Character.isLowSurrogate(s.charAt(i + 1))) {
        i++;
      } else if (Character.isSurrogate(c)) {
        throw new NarInfoException(
            "realisation holds a lone UTF-16 surrogate (\\u" + Integer.toHexString(c) + ")");
      }
    }
    return s;
  }

  private static void dump(StringBuilder sb, Object v) {
    switch (v) {
      case Map<?, ?> m -> {
        sb.append('{');
        boolean first = true;
        for (Map.Entry<?, ?> e : m.entrySet()) {
          if (!first) {
            sb.append(',');
          }
          first = false;
          string(sb, (String) e.getKey());
          sb.append(':');
          dump(sb, e.getValue());
        }
        sb.append('}');
      }
      case List<?> l -> {
        sb.append('[');
        for (int i = 0; i < l.size(); i++) {
          if (i > 0) {
            sb.append(',');
          }
          dump(sb, l.get(i));
        }
        sb.append(']');
      }
      case String s -> string(sb, s);
      case BigInteger n -> sb.append(n);
      case Boolean b -> sb.append(b);
      default -> sb.append("null");
    }
  }

  /** nlohmann's escaping: {@code " \\}, the short control escapes, other controls as lower-case {@code \\u00xx}. */
  private static void string(StringBuilder sb, String s) {
    sb.append('"');
    for (int i = 0; i < s.length(); i++) {
      char c = s.charAt(i);
      switch (c) {
        case '"' -> sb.append("\\\"");
        case '\\' -> sb.append("\\\\");
        case '\b' -> sb.append("\\b");
        case '\f' -> sb.append("\\f");
        case '\n' -> sb.append("\\n");
        case '\r' -> sb.append("\\r");
        case '\t' -> sb.append("\\t");
        default -> {
          if (c < 0x20) {
            sb.append(String.format("\\u%04x", (int) c));
          } else {
            sb.append(c);
          }
        }
      }
    }
    sb.append('"');
  }

  private static int compareUtf8(String a, String b) {
    byte[] x = a.getBytes(StandardCharsets.UTF_8);
    byte[] y = b.getBytes(StandardCharsets.UTF_8);
    return Arrays.compareUnsigned(x, y);
  }
}

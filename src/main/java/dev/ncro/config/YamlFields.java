package dev.ncro.config;

import java.math.BigInteger;
import java.nio.file.InvalidPathException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;

/**
 * Typed reads from a parsed YAML tree that never throw: a missing or ill-typed field is recorded as
 * a problem naming its path ({@code cache.ttl: ...}) and a neutral value is returned, so one pass
 * reports every problem in the file.
 */
final class YamlFields {
  private final List<String> problems = new ArrayList<>();
  private final Map<String, String> sources;

  /** {@code sources}: field path → where its value came from when not the YAML (e.g. an env var). */
  YamlFields(Map<String, String> sources) {
    this.sources = sources;
  }

  List<String> problems() {
    return problems;
  }

  void problem(String path, String message) {
    String from = sources.get(path);
    problems.add(path + (from == null ? "" : " (from " + from + ")") + ": " + message);
  }

  /** The map at {@code path}, with unknown keys reported; an empty map when it is not a map. */
  @SuppressWarnings("unchecked")
  Map<String, Object> section(Object node, String path, Set<String> known) {
    if (!(node instanceof Map<?, ?> m)) {
      problem(path, "expected a mapping, got " + describe(node));
      return Map.of();
    }
    for (Object k : m.keySet()) {
      if (!(k instanceof String s) || !known.contains(s)) {
        problem(
            path.isEmpty() ? keyName(k) : path + "." + keyName(k),
            "unknown key (known: " + String.join(", ", known.stream().sorted().toList()) + ")");
      }
    }
    return (Map<String, Object>) m;
  }

  List<?> list(Map<String, Object> m, String key, String path) {
    Object v = m.get(key);
    if (v == null) {
      return List.of();
    }
    if (!(v instanceof List<?> l)) {
      problem(path, "expected a list, got " + describe(v));
      return List.of();
    }
    return l;
  }

  String string(Map<String, Object> m, String key, String path) {
    Object v = m.get(key);
    if (v instanceof String s) {
      return s;
    }
    problem(path, v == null ? "missing" : "expected a string, got " + describe(v));
    return "";
  }

  /** A string, or {@code dflt} when absent. */
  String optionalString(Map<String, Object> m, String key, String path, String dflt) {
    return m.get(key) == null ? dflt : string(m, key, path);
  }

  boolean bool(Map<String, Object> m, String key, String path) {
    Object v = m.get(key);
    if (v instanceof Boolean b) {
      return b;
    }
    problem(path, v == null ? "missing" : "expected true or false, got " + describe(v));
    return false;
  }

  /** An integer in [{@code min}, {@code max}]. */
  int integer(Map<String, Object> m, String key, String path, long min, long max) {
    Object v = m.get(key);
    if (!(v instanceof Integer || v instanceof Long || v instanceof BigInteger)) {
      problem(path, v == null ? "missing" : "expected an integer, got " + describe(v));
      return (int) min;
    }
    BigInteger n = new BigInteger(v.toString());
    if (n.compareTo(BigInteger.valueOf(min)) < 0 || n.compareTo(BigInteger.valueOf(max)) > 0) {
      problem(path, n + " is out of range " + min + ".." + max);
      return (int) min;
    }
    return n.intValue();
  }

  double number(Map<String, Object> m, String key, String path) {
    Object v = m.get(key);
    if (v instanceof Number n) {
      return n.doubleValue();
    }
    problem(path, v == null ? "missing" : "expected a number, got " + describe(v));
    return Double.NaN;
  }

  /** A strictly positive Go-syntax duration such as {@code 30s}. */
  Duration duration(Map<String, Object> m, String key, String path) {
    Object v = m.get(key);
    if (!(v instanceof String s)) {
      problem(
          path, v == null ? "missing" : "expected a duration such as \"30s\", got " + describe(v));
      return Duration.ofSeconds(1);
    }
    try {
      Duration d = GoDuration.parse(s);
      if (d.isZero() || d.isNegative()) {
        problem(path, "must be longer than zero");
        return Duration.ofSeconds(1);
      }
      return d;
    } catch (IllegalArgumentException e) {
      problem(path, e.getMessage());
      return Duration.ofSeconds(1);
    }
  }

  /** A Go-syntax duration that may be zero ({@code "0"} turns a feature off). */
  Duration durationOrZero(Map<String, Object> m, String key, String path) {
    Object v = m.get(key);
    if (!(v instanceof String s)) {
      problem(
          path,
          v == null
              ? "missing"
              : "expected a duration such as \"1s\" (or \"0\"), got " + describe(v));
      return Duration.ZERO;
    }
    try {
      return GoDuration.parse(s); // never negative: a sign is not Go duration syntax here
    } catch (IllegalArgumentException e) {
      problem(path, e.getMessage());
      return Duration.ZERO;
    }
  }

  /** An optional path field: null when absent or empty. */
  Path optionalPath(Map<String, Object> m, String key, String path) {
    if (m.get(key) == null) {
      return null;
    }
    String text = string(m, key, path);
    if (text.isEmpty()) {
      return null;
    }
    try {
      return Path.of(text);
    } catch (InvalidPathException e) {
      problem(path, "not a valid path: " + e.getReason());
      return null;
    }
  }

  static String describe(Object v) {
    if (v == null) {
      return "nothing";
    }
    // Collections are named, never printed: shared by aliases, their text can be exponential.
    if (v instanceof Map<?, ?>) {
      return "a mapping";
    }
    if (v instanceof List<?>) {
      return "a list";
    }
    if (v instanceof Set<?>) {
      return "a set";
    }
    if (v instanceof byte[]) {
      return "binary data";
    }
    return v.getClass().getSimpleName().toLowerCase(Locale.ROOT) + " "
        + abbreviate(String.valueOf(v));
  }

  /** A mapping key as written in a problem's path (keys are scalars: the loader refuses others). */
  static String keyName(Object k) {
    return k instanceof byte[] ? "<binary>" : abbreviate(String.valueOf(k));
  }

  private static String abbreviate(String s) {
    return s.length() <= 80 ? s : s.substring(0, 80) + "...";
  }
}

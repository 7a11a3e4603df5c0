package dev.ncro.config;

import java.util.Locale;

/**
 * One rule of an upstream's {@code filters}: {@code action} a store path whose {@code field}
 * matches {@code pattern}. Patterns are globs whose only wildcard is {@code *} (any run of
 * characters, none included), matched against the whole value; every other character is literal.
 * A narinfo request carries only a hash, so rules are judged on the narinfo an upstream returned
 * (see {@link PathFilters}).
 */
public record PathFilter(Action action, Field field, String pattern) {
  /** What a matching path gets. */
  public enum Action {
    ALLOW,
    DENY;

    public String label() {
      return name().toLowerCase(Locale.ROOT);
    }
  }

  /**
   * What the pattern is matched against. {@code NAME}: the store path's name after the hash and its
   * dash ({@code hello-2.12} for {@code /nix/store/<hash>-hello-2.12}). {@code STORE_PATH}: the full
   * store path. {@code REFERENCE}: each referenced store path, full ({@code /nix/store/<hash>-glibc-2.39});
   * the rule matches when any one does. {@code DERIVER}: the full path of the deriver
   * ({@code /nix/store/<hash>-hello-2.12.drv}); a narinfo without one matches no deriver pattern.
   */
  public enum Field {
    NAME,
    STORE_PATH,
    REFERENCE,
    DERIVER;

    public String label() {
      return name().toLowerCase(Locale.ROOT);
    }
  }

  public PathFilter {
    String problem = patternProblem(field, pattern);
    if (problem != null) {
      throw new IllegalArgumentException(problem);
    }
  }

  /**
   * Why {@code pattern} is not a usable pattern for {@code field}, or null. Characters that cannot
   * occur in a store path are refused rather than matched literally: {@code [a-z]}, {@code {a,b}}
   * or {@code ?} written as a wildcard would otherwise match nothing, silently.
   */
  static String patternProblem(Field field, String pattern) {
    if (pattern.isEmpty()) {
      return "must not be empty (\"*\" matches every path)";
    }
    for (int i = 0; i < pattern.length(); i++) {
      char c = pattern.charAt(i);
      boolean nameChar = (c >= 'a' && c <= 'z')
          || (c >= 'A' && c <= 'Z')
          || (c >= '0' && c <= '9')
          || c == '+'
          || c == '-'
          || c == '.'
          || c == '_'
          || c == '='
          || c == '*';
      if (nameChar || (c == '/' && field != Field.NAME)) {
        continue;
      }
      if (c == '/') {
        return "\"" + pattern
            + "\": a name has no '/' (match the whole path with field: store_path)";
      }
      return "\"" + pattern + "\": '"
          + (c < 0x20 || c > 0x7e ? String.format("\\u%04x", (int) c) : String.valueOf(c))
          + "' cannot occur in a store path; the only wildcard is '*'";
    }
    return null;
  }

  /** Whether {@code value} matches the pattern as a whole. */
  public boolean matches(String value) {
    return glob(pattern, value);
  }

  /** {@code *}-only glob, linear: the first segment is a prefix, the last a suffix, the others found in order. */
  static boolean glob(String pattern, String text) {
    String[] parts = pattern.split("\\*", -1);
    if (parts.length == 1) {
      return pattern.equals(text);
    }
    String first = parts[0];
    String last = parts[parts.length - 1];
    if (text.length() < first.length() + last.length()
        || !text.startsWith(first)
        || !text.endsWith(last)) {
      return false;
    }
    int at = first.length();
    int end = text.length() - last.length();
    for (int i = 1; i < parts.length - 1; i++) {
      String p = parts[i];
      if (p.isEmpty()) {
        continue;
      }
      int found = text.indexOf(p, at);
      if (found < 0 || found + p.length() > end) {
        return false;
      }
      at = found + p.length();
    }
    return true;
  }
}

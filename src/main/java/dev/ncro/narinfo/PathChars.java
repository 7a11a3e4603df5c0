package dev.ncro.narinfo;

/**
 * The characters ncro lets through in a NAR file name and a cache file's path: letters, digits and
 * {@code - . _ ~ + = ,}. One definition for the narinfo rewriter (which URLs it may shorten to ones
 * ncro serves) and the request parser (which paths reach an upstream), so the two never disagree.
 */
public final class PathChars {
  private PathChars() {}

  /** True for a letter, digit or one of {@code - . _ ~ + = ,}. */
  public static boolean safe(int c) {
    return (c >= 'a' && c <= 'z')
        || (c >= 'A' && c <= 'Z')
        || (c >= '0' && c <= '9')
        || c == '-'
        || c == '.'
        || c == '_'
        || c == '~'
        || c == '+'
        || c == '='
        || c == ',';
  }
}

package dev.ncro.server;

/**
 * A {@code Content-Range: bytes first-last/total} header, the only form a resumable NAR answer may
 * have (an unknown total, {@code /*}, cannot be checked against the file and is refused).
 */
record ContentRange(long first, long last, long total) {
  /** The parsed header, or null when absent or not of that exact form. */
  static ContentRange parse(String header) {
    if (header == null || !header.startsWith("bytes ")) {
      return null;
    }
    try {
      String spec = header.substring(6).trim();
      int dash = spec.indexOf('-');
      int slash = spec.indexOf('/');
      if (dash <= 0 || slash <= dash) {
        return null;
      }
      long first = Long.parseLong(spec.substring(0, dash));
      long last = Long.parseLong(spec.substring(dash + 1, slash));
      long total = Long.parseLong(spec.substring(slash + 1));
      return first >= 0 && last >= first && total > last
          ? new ContentRange(first, last, total)
          : null;
    } catch (NumberFormatException e) {
      return null;
    }
  }
}

package dev.ncro.narinfo;

import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;

/**
 * Rewrites an absolute {@code URL:} line under the upstream's own base into a relative one, so
 * Nix asks ncro (not the upstream) for the NAR. Everything else stays byte-exact: Nix parses
 * narinfos strictly, and {@code URL} is the only field not covered by the signature. The rewrite
 * works on bytes: the new value is exactly the bytes that followed {@code <upstream>/}.
 *
 * <p>An absolute URL is left alone when the relative one would not reach the NAR through ncro: on
 * another host (a CDN: ncro cannot route to a host it is not configured for, and Nix can fetch it
 * directly), or a path ncro's NAR endpoint would refuse or not serve (not {@code nar/<file>}, dot
 * segments, doubled slashes, percent-encoding, non-ASCII). Nix then fetches it from the upstream
 * itself, as it would without ncro.
 */
public final class NarInfoRewriter {
  private static final byte[] URL_PREFIX = "URL: ".getBytes(StandardCharsets.US_ASCII);
  private static final byte[] NAR_DIR = "nar/".getBytes(StandardCharsets.US_ASCII);
  /** As ncro's request gate (server.RequestPath): the longest NAR file name and request target. */
  private static final int MAX_NAR_NAME = 256;

  private static final int MAX_URI = 1024;

  private NarInfoRewriter() {}

  public static byte[] relativizeUrl(byte[] body, URI upstream) {
    int lineStart = findUrlLine(body);
    if (lineStart < 0) {
      return body;
    }
    int valueStart = lineStart + URL_PREFIX.length;
    int end = valueStart;
    while (end < body.length && body[end] != '\n') {
      end++;
    }
    String base = upstream.toString();
    byte[] baseSlash = (base.endsWith("/") ? base : base + "/").getBytes(StandardCharsets.UTF_8);
    if (!startsWith(body, valueStart, end, baseSlash)) {
      return body;
    }
    int relStart = valueStart + baseSlash.length;
    if (!servableNarPath(body, relStart, end)) {
      return body;
    }
    byte[] out = new byte[body.length - (relStart - valueStart)];
    System.arraycopy(body, 0, out, 0, valueStart);
    System.arraycopy(body, relStart, out, valueStart, body.length - relStart);
    return out;
  }

  /**
   * True when {@code b[from, to)} is a NAR path ncro's endpoint serves: {@code nar/<file>} with
   * {@code <file>} of letters, digits and {@code - . _ ~ + = ,} (not "." or ".."), and an optional
   * query of printable ASCII without space, {@code #}, {@code %} or backslash.
   */
  private static boolean servableNarPath(byte[] b, int from, int to) {
    if (to - from + 1 > MAX_URI || !startsWith(b, from, to, NAR_DIR)) {
      return false;
    }
    int nameStart = from + NAR_DIR.length;
    int nameEnd = nameStart;
    while (nameEnd < to && b[nameEnd] != '?') {
      if (!PathChars.safe(b[nameEnd])) {
        return false;
      }
      nameEnd++;
    }
    int nameLength = nameEnd - nameStart;
    if (nameLength == 0 || nameLength > MAX_NAR_NAME) {
      return false;
    }
    byte[] name = Arrays.copyOfRange(b, nameStart, nameEnd);
    if (Arrays.equals(name, new byte[] {'.'}) || Arrays.equals(name, new byte[] {'.', '.'})) {
      return false;
    }
    for (int i = nameEnd + 1; i < to; i++) {
      byte c = b[i];
      if (c <= 0x20 || c >= 0x7f || c == '#' || c == '%' || c == '\\') {
        return false;
      }
    }
    return true;
  }

  /** Offset of the first line starting with {@code "URL: "}, or -1. */
  private static int findUrlLine(byte[] body) {
    int i = 0;
    while (i < body.length) {
      if (startsWith(body, i, body.length, URL_PREFIX)) {
        return i;
      }
      while (i < body.length && body[i] != '\n') {
        i++;
      }
      i++;
    }
    return -1;
  }

  /** True when {@code b[off, limit)} starts with {@code prefix}. */
  private static boolean startsWith(byte[] b, int off, int limit, byte[] prefix) {
    if (off + prefix.length > limit) {
      return false;
    }
    return Arrays.equals(b, off, off + prefix.length, prefix, 0, prefix.length);
  }
}

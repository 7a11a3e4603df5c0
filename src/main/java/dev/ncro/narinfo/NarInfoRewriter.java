package dev.ncro.narinfo;

import java.net.URI;
import java.nio.charset.StandardCharsets;

/**
 * Rewrites an absolute {@code URL:} line under the upstream's own base into a relative one, so
 * Nix asks ncro (not the upstream) for the NAR. Everything else stays byte-exact: Nix parses
 * narinfos strictly, and {@code URL} is the only field not covered by the signature. An absolute
 * URL on another host (a CDN) is left alone: ncro cannot route to a host it is not configured for,
 * and Nix can fetch it directly.
 */
public final class NarInfoRewriter {
  private static final byte[] URL_PREFIX = "URL: ".getBytes(StandardCharsets.US_ASCII);

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
    String url = new String(body, valueStart, end - valueStart, StandardCharsets.UTF_8);
    if (!url.startsWith("http://") && !url.startsWith("https://")) {
      return body;
    }
    String base = upstream.toString();
    String baseSlash = base.endsWith("/") ? base : base + "/";
    if (!url.startsWith(baseSlash) || url.length() == baseSlash.length()) {
      return body;
    }
    byte[] rel = url.substring(baseSlash.length()).getBytes(StandardCharsets.UTF_8);
    byte[] out = new byte[body.length - (end - valueStart) + rel.length];
    System.arraycopy(body, 0, out, 0, valueStart);
    System.arraycopy(rel, 0, out, valueStart, rel.length);
    System.arraycopy(body, end, out, valueStart + rel.length, body.length - end);
    return out;
  }

  /** Offset of the first line starting with {@code "URL: "}, or -1. */
  private static int findUrlLine(byte[] body) {
    int i = 0;
    while (i < body.length) {
      if (startsWith(body, i, URL_PREFIX)) {
        return i;
      }
      while (i < body.length && body[i] != '\n') {
        i++;
      }
      i++;
    }
    return -1;
  }

  private static boolean startsWith(byte[] b, int off, byte[] prefix) {
    if (off + prefix.length > b.length) {
      return false;
    }
    for (int k = 0; k < prefix.length; k++) {
      if (b[off + k] != prefix[k]) {
        return false;
      }
    }
    return true;
  }
}

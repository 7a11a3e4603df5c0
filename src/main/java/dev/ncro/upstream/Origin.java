package dev.ncro.upstream;

import java.net.URI;
import java.util.Locale;

/**
 * The origin of a URL as {@code scheme://host:port}, port always explicit, so {@code https://h}
 * and {@code https://h:443} compare equal. Credentials are sent to a request only when its origin
 * is the upstream's own.
 */
final class Origin {
  private Origin() {}

  static String of(URI u) {
    String scheme = u.getScheme().toLowerCase(Locale.ROOT);
    int port = u.getPort() > 0 ? u.getPort() : defaultPort(scheme);
    return scheme + "://" + u.getHost().toLowerCase(Locale.ROOT) + ":" + port;
  }

  static int defaultPort(String scheme) {
    return "https".equals(scheme) ? 443 : 80;
  }
}

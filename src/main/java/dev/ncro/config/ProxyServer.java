package dev.ncro.config;

import java.net.URI;
import java.net.URISyntaxException;
import java.net.URLDecoder;
import java.nio.charset.StandardCharsets;
import java.util.Locale;

/**
 * A forward proxy that upstream connections go through, parsed the way curl (and so Nix) reads
 * {@code https_proxy} and its siblings: no scheme means {@code http://}, no port means 1080 (443
 * for an {@code https://} proxy), and {@code user:password@} before the host are credentials,
 * percent-decoded.
 *
 * <p>{@link Kind#HTTP}: an {@code https://} upstream is reached through a {@code CONNECT} tunnel,
 * a plain {@code http://} one by sending the proxy the absolute URL (as curl does; a CONNECT to
 * port 80 is refused by Squid's default rules). {@link Kind#HTTPS} is the same spoken over TLS to
 * the proxy itself, checked against system trust (an {@code https://} upstream's own TLS then runs
 * inside that). {@link Kind#SOCKS5} resolves the upstream's name here and hands the proxy an
 * address; {@link Kind#SOCKS5H} hands it the name.
 *
 * <p>The password never leaves this record except as a {@code Proxy-Authorization} or SOCKS
 * handshake: {@link #toString()} and {@link #display()} leave it out.
 */
public record ProxyServer(Kind kind, String host, int port, String username, String password) {
  public enum Kind {
    HTTP("http", 1080),
    /** HTTP proxying over TLS to the proxy. */
    HTTPS("https", 443),
    SOCKS5("socks5", 1080),
    SOCKS5H("socks5h", 1080);

    private final String scheme;
    private final int defaultPort;

    /** {@code defaultPort}: curl's (CURL_DEFAULT_PROXY_PORT, CURL_DEFAULT_HTTPS_PROXY_PORT). */
    Kind(String scheme, int defaultPort) {
      this.scheme = scheme;
      this.defaultPort = defaultPort;
    }

    public String scheme() {
      return scheme;
    }

    /** Whether the proxy speaks HTTP (CONNECT tunnels and absolute-URL forwarding). */
    public boolean http() {
      return this == HTTP || this == HTTPS;
    }
  }

  /**
   * Parses a proxy variable's value; throws {@link IllegalArgumentException} with a message that
   * never quotes the value (it may hold a password).
   */
  static ProxyServer parse(String value) {
    String text = value.strip();
    String withScheme = text.contains("://") ? text : "http://" + text;
    URI u;
    try {
      u = new URI(withScheme);
    } catch (URISyntaxException e) {
      u = null;
    }
    if (u == null || u.getScheme() == null) {
      // Unparsable, or "://" past the start ("/x://y"): a relative reference, not a proxy.
      throw new IllegalArgumentException("not a proxy URL such as \"http://proxy.example:3128\"");
    }
    String scheme = u.getScheme().toLowerCase(Locale.ROOT);
    Kind kind = switch (scheme) {
      case "http" -> Kind.HTTP;
      case "socks5" -> Kind.SOCKS5;
      case "socks5h" -> Kind.SOCKS5H;
      case "https" -> Kind.HTTPS;
      default ->
        throw new IllegalArgumentException(
            "proxy scheme \"" + scheme + "\" is not supported (http, https, socks5 or socks5h)");
    };
    if (u.getHost() == null || u.getHost().isEmpty()) {
      throw new IllegalArgumentException(
          "no proxy host (expected e.g. \"http://proxy.example:3128\")");
    }
    String host = u.getHost().startsWith("[")
        ? u.getHost().substring(1, u.getHost().length() - 1)
        : u.getHost();
    String user = null;
    String password = null;
    if (u.getRawUserInfo() != null) {
      String info = u.getRawUserInfo();
      int colon = info.indexOf(':');
      user = decode(colon < 0 ? info : info.substring(0, colon));
      password = colon < 0 ? "" : decode(info.substring(colon + 1));
    }
    return new ProxyServer(
        kind, host, u.getPort() > 0 ? u.getPort() : kind.defaultPort, user, password);
  }

  private static String decode(String s) {
    return URLDecoder.decode(s.replace("+", "%2B"), StandardCharsets.UTF_8);
  }

  public boolean hasCredentials() {
    return username != null;
  }

  /** {@code scheme://host:port}: for logs and {@code /status}, without credentials. */
  public String display() {
    String h = host.indexOf(':') >= 0 ? "[" + host + "]" : host;
    return kind.scheme() + "://" + h + ":" + port;
  }

  @Override
  public String toString() {
    return display() + (hasCredentials() ? " (with credentials)" : "");
  }
}

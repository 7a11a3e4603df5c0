package dev.ncro.config;

/**
 * A parsed {@code server.listen} value: {@code ":8080"} (every interface), {@code "127.0.0.1:8080"},
 * {@code "[::1]:8080"}, or {@code "localhost:8080"} (both loopback addresses, 127.0.0.1 and ::1,
 * whatever {@code /etc/hosts} says). {@code host} is null for "every interface".
 */
public record ListenAddress(String host, int port) {
  /** The host name that means "127.0.0.1 and ::1". */
  public static final String LOOPBACK = "localhost";

  /** Whether this is {@code localhost:port}: both loopback addresses. */
  public boolean bothLoopbacks() {
    return host != null && host.equalsIgnoreCase(LOOPBACK);
  }

  /** Parses {@code host:port}; throws {@link IllegalArgumentException} with a readable reason. */
  public static ListenAddress parse(String text) {
    if (text == null || text.isBlank()) {
      throw new IllegalArgumentException("empty address, expected host:port such as \":8080\"");
    }
    int colon = text.lastIndexOf(':');
    if (colon < 0) {
      throw new IllegalArgumentException(
          "missing port in \"" + text + "\", expected host:port such as \":8080\"");
    }
    String host = text.substring(0, colon);
    String portText = text.substring(colon + 1);
    if (host.startsWith("[")) {
      if (!host.endsWith("]") || host.length() < 3) {
        throw new IllegalArgumentException("bad IPv6 host in \"" + text + "\"");
      }
      host = host.substring(1, host.length() - 1);
    } else if (host.contains(":")) {
      throw new IllegalArgumentException("IPv6 host must be in brackets in \"" + text + "\"");
    }
    int port;
    try {
      port = Integer.parseInt(portText);
    } catch (NumberFormatException e) {
      throw new IllegalArgumentException("bad port \"" + portText + "\" in \"" + text + "\"");
    }
    if (port < 0 || port > 65535) {
      throw new IllegalArgumentException("port " + port + " out of range 0-65535");
    }
    if (host.isEmpty()) {
      host = null;
    }
    return new ListenAddress(host, port);
  }

  @Override
  public String toString() {
    if (host == null) {
      return ":" + port;
    }
    return (host.contains(":") ? "[" + host + "]" : host) + ":" + port;
  }
}

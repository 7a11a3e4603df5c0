package dev.ncro.config;

import java.net.URI;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * The forward proxies upstream connections go through, from the same environment variables, in
 * the same order, as curl reads them for Nix: behind a proxy that only lets {@code https_proxy}
 * users out, a machine that replaced its substituters with ncro must still reach them.
 *
 * <ul>
 *   <li>{@code http://} upstreams: {@code http_proxy} (lower case only, as curl: a CGI-set {@code
 *       HTTP_PROXY} is attacker-controlled), then {@code all_proxy}, {@code ALL_PROXY};
 *   <li>{@code https://} upstreams (and S3 buckets, by their endpoint's scheme): {@code
 *       https_proxy}, {@code HTTPS_PROXY}, then {@code all_proxy}, {@code ALL_PROXY};
 *   <li>{@code no_proxy}, then {@code NO_PROXY}: the hosts reached directly ({@link NoProxy}).
 * </ul>
 *
 * An empty variable counts as unset. The proxy is chosen per connection target, so a redirect to
 * another host follows that host's rule. UDP gossip and mDNS never go through it.
 *
 * @param http the proxy for {@code http://} targets, or null
 * @param https the proxy for {@code https://} targets, or null
 */
public record OutboundProxy(ProxyServer http, ProxyServer https, NoProxy noProxy) {
  public static final OutboundProxy NONE = new OutboundProxy(null, null, NoProxy.NONE);

  public OutboundProxy {
    noProxy = noProxy == null ? NoProxy.NONE : noProxy;
  }

  /** A malformed proxy variable; {@link #variable()} names it. The message never quotes the value. */
  public static final class Malformed extends IllegalArgumentException {
    private final String variable;

    Malformed(String variable, String message) {
      super(message);
      this.variable = variable;
    }

    public String variable() {
      return variable;
    }
  }

  /** Reads the proxy variables from {@code env}; throws {@link Malformed} for a malformed one. */
  public static OutboundProxy fromEnvironment(Map<String, String> env) {
    ProxyServer all = first(env, "all_proxy", "ALL_PROXY");
    ProxyServer http = first(env, "http_proxy");
    ProxyServer https = first(env, "https_proxy", "HTTPS_PROXY");
    String no = value(env, "no_proxy");
    if (no == null) {
      no = value(env, "NO_PROXY");
    }
    return new OutboundProxy(
        http != null ? http : all,
        https != null ? https : all,
        no == null ? NoProxy.NONE : NoProxy.parse(no));
  }

  private static ProxyServer first(Map<String, String> env, String... names) {
    for (String n : names) {
      String v = value(env, n);
      if (v != null) {
        try {
          return ProxyServer.parse(v);
        } catch (IllegalArgumentException e) {
          throw new Malformed(n, e.getMessage());
        }
      }
    }
    return null;
  }

  private static String value(Map<String, String> env, String name) {
    String v = env.get(name);
    return v == null || v.isBlank() ? null : v;
  }

  /** The proxy a connection to {@code url} goes through, or null to connect directly. */
  public ProxyServer forUrl(URI url) {
    String scheme = url.getScheme() == null ? "" : url.getScheme().toLowerCase(Locale.ROOT);
    ProxyServer p = switch (scheme) {
      case "http" -> http;
      case "https" -> https;
      default -> null;
    };
    return p == null || url.getHost() == null || noProxy.matches(url.getHost()) ? null : p;
  }

  /** Whether a proxy is reached over TLS ({@code https://}): then TLS trust is needed at once. */
  public boolean usesTls() {
    return (http != null && http.kind() == ProxyServer.Kind.HTTPS)
        || (https != null && https.kind() == ProxyServer.Kind.HTTPS);
  }

  public boolean isEmpty() {
    return http == null && https == null;
  }

  /** One line for {@code --check} and the start-up log: which proxy for which scheme, no credentials. */
  public String describe() {
    List<String> parts = new ArrayList<>();
    if (https != null) {
      parts.add("https via " + https);
    }
    if (http != null) {
      parts.add("http via " + http);
    }
    if (!noProxy.isEmpty()) {
      parts.add("no_proxy " + noProxy);
    }
    return String.join(", ", parts);
  }
}

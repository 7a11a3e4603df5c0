package dev.ncro.config;

import java.net.URI;
import java.nio.file.Path;
import java.util.List;

/**
 * One binary cache ncro routes to. {@code url} has no trailing slash; {@code publicKeys} are Nix
 * keys ({@code name:base64}) — when non-empty, a narinfo from this upstream counts only if one of
 * its signatures verifies against one of them. {@code caFile} (null for none) holds PEM
 * certificates trusted for this upstream in addition to the system's; {@code credentials} were read
 * from their files at start-up (see {@link UpstreamCredentials}).
 */
public record UpstreamConfig(URI url, int priority, List<String> publicKeys, Path caFile, UpstreamCredentials credentials) {
  public UpstreamConfig {
    publicKeys = List.copyOf(publicKeys);
    credentials = credentials == null ? UpstreamCredentials.NONE : credentials;
  }

  /** A public cache trusted through the system's certificates only. */
  public UpstreamConfig(URI url, int priority, List<String> publicKeys) {
    this(url, priority, publicKeys, null, UpstreamCredentials.NONE);
  }

  /**
   * The canonical form upstreams are compared in (duplicates in the config, names in gossip):
   * lower-case scheme and host, explicit port only when given, no trailing slash.
   */
  public static URI normalize(URI u) {
    String p = u.getRawPath() == null ? "" : u.getRawPath().replaceAll("/+$", "");
    String port = u.getPort() < 0 ? "" : ":" + u.getPort();
    return URI.create(u.getScheme().toLowerCase(java.util.Locale.ROOT) + "://"
        + u.getHost().toLowerCase(java.util.Locale.ROOT) + port + p);
  }
}

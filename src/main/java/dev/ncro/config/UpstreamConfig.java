package dev.ncro.config;

import java.net.URI;
import java.util.List;

/**
 * One binary cache ncro routes to. {@code url} has no trailing slash; {@code publicKeys} are Nix
 * keys ({@code name:base64}) — when non-empty, a narinfo from this upstream counts only if one of
 * its signatures verifies against one of them.
 */
public record UpstreamConfig(URI url, int priority, List<String> publicKeys) {
  public UpstreamConfig {
    publicKeys = List.copyOf(publicKeys);
  }
}

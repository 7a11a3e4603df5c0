package dev.ncro.config;

import java.util.List;

/**
 * Binary caches found on the LAN by mDNS / DNS-SD. Off by default: a cache that any host on the
 * network can announce must not become an upstream without the operator's say. {@code service}
 * and {@code domain} make the browsed type ({@code _nix-serve._tcp} in {@code local}: what
 * nix-serve deployments announce). {@code priority} is the priority a discovered upstream gets,
 * on the same scale as a configured upstream's (lower wins an EMA tie). {@code publicKeys} are
 * the Nix keys a discovered cache must sign with: a narinfo from it counts only if it verifies
 * against one of them, so enabling discovery needs at least one.
 */
public record DiscoveryConfig(
    boolean enabled, String service, String domain, int priority, List<String> publicKeys) {
  /** After the configured upstreams' default (10) in a tie: the operator named those. */
  public static final int DEFAULT_PRIORITY = 20;

  public static final DiscoveryConfig DISABLED =
      new DiscoveryConfig(false, "_nix-serve._tcp", "local", DEFAULT_PRIORITY, List.of());

  public DiscoveryConfig {
    publicKeys = List.copyOf(publicKeys);
  }

  /** The DNS-SD type as mDNS names it, fully qualified: {@code _nix-serve._tcp.local.}. */
  public String serviceType() {
    return service + "." + domain + ".";
  }
}

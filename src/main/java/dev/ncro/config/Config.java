package dev.ncro.config;

import java.util.List;

/**
 * The whole, validated configuration. Built once at start-up by {@link ConfigLoader} from the
 * embedded default, an optional YAML file and {@code NCRO_*} environment overrides; immutable
 * afterwards so every component can hold it without copying.
 */
public record Config(
    ServerConfig server,
    List<UpstreamConfig> upstreams,
    CacheConfig cache,
    TimeoutsConfig timeouts,
    LoggingConfig logging,
    MeshConfig mesh,
    DiscoveryConfig discovery) {

  public Config {
    upstreams = List.copyOf(upstreams);
    discovery = discovery == null ? DiscoveryConfig.DISABLED : discovery;
  }

  /** Without mDNS discovery (off). */
  public Config(ServerConfig server, List<UpstreamConfig> upstreams, CacheConfig cache, TimeoutsConfig timeouts,
      LoggingConfig logging, MeshConfig mesh) {
    this(server, upstreams, cache, timeouts, logging, mesh, DiscoveryConfig.DISABLED);
  }
}

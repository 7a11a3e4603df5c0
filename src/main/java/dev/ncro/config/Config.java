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
    FallbackCacheConfig fallbackCache,
    DiscoveryConfig discovery,
    OutboundProxy proxy) {

  public Config {
    upstreams = List.copyOf(upstreams);
    fallbackCache = fallbackCache == null ? FallbackCacheConfig.DISABLED : fallbackCache;
    discovery = discovery == null ? DiscoveryConfig.DISABLED : discovery;
    proxy = proxy == null ? OutboundProxy.NONE : proxy;
  }

  /** Without a fallback cache, mDNS discovery or a forward proxy. */
  public Config(
      ServerConfig server,
      List<UpstreamConfig> upstreams,
      CacheConfig cache,
      TimeoutsConfig timeouts,
      LoggingConfig logging,
      MeshConfig mesh) {
    this(
        server,
        upstreams,
        cache,
        timeouts,
        logging,
        mesh,
        FallbackCacheConfig.DISABLED,
        DiscoveryConfig.DISABLED,
        OutboundProxy.NONE);
  }

  /** The same configuration with {@code fallback} as its fallback cache. */
  public Config withFallbackCache(FallbackCacheConfig fallback) {
    return new Config(
        server, upstreams, cache, timeouts, logging, mesh, fallback, discovery, proxy);
  }

  /** The same configuration with {@code s} as its server settings. */
  public Config withServer(ServerConfig s) {
    return new Config(
        s, upstreams, cache, timeouts, logging, mesh, fallbackCache, discovery, proxy);
  }

  /** The same configuration with upstream connections through {@code p}. */
  public Config withProxy(OutboundProxy p) {
    return new Config(
        server, upstreams, cache, timeouts, logging, mesh, fallbackCache, discovery, p);
  }
}

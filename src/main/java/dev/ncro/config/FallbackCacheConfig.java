package dev.ncro.config;

/**
 * {@code fallback_cache}: a cache asked only after every regular upstream answered absent or could
 * not answer (a slow, far or costly cache one would rather not race). {@code upstream} holds its
 * URL, keys, TLS trust, credentials and filters, bound exactly as an upstream's are; its
 * {@code priority} means nothing. Null when not enabled.
 */
public record FallbackCacheConfig(boolean enabled, UpstreamConfig upstream) {
  public static final FallbackCacheConfig DISABLED = new FallbackCacheConfig(false, null);

  public FallbackCacheConfig {
    if (enabled && upstream == null) {
      throw new IllegalArgumentException("an enabled fallback cache needs its upstream settings");
    }
    if (!enabled) {
      upstream = null;
    }
  }

  /** An enabled fallback cache. */
  public static FallbackCacheConfig of(UpstreamConfig upstream) {
    return new FallbackCacheConfig(true, upstream);
  }
}

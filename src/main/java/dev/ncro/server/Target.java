package dev.ncro.server;

import dev.ncro.narinfo.CacheFileKind;

/** What a request asks for, decided before anything else happens (see {@link RequestPath}). */
sealed interface Target {
  record NixCacheInfo() implements Target {}

  record Health() implements Target {}

  record Metrics() implements Target {}

  /** The JSON snapshot. */
  record Status() implements Target {}

  /** The HTML status page for people ({@code /} and {@code /ui}). */
  record StatusPage() implements Target {}

  record Narinfo(String hash) implements Target {}

  /** {@code narUrl}: the path without its leading slash, query included, e.g. {@code nar/x.nar.xz}. */
  record Nar(String narUrl) implements Target {}

  /**
   * A cache file (log, realisation, listing, debuginfo): {@code upstreamPath} is the path (with
   * query) as sent upstream, in canonical escaping; {@code key} is a listing's store path hash, a
   * realisation's id, a build trace's {@code <drv>^<output>}, or null.
   */
  record CacheFile(CacheFileKind kind, String upstreamPath, String key) implements Target {}

  record NotFound() implements Target {}

  /** A malformed request: answered with {@code status} (4xx), never forwarded. */
  record Rejected(int status, String reason) implements Target {}
}

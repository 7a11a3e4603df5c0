package dev.ncro.upstream;

import java.util.Locale;

/** Why an exchange with an upstream failed; also the {@code kind} label of the error metric. */
public enum FailureKind {
  /**
   * The name did not resolve, TCP or TLS set-up failed or was refused, or a forward proxy refused
   * the tunnel.
   */
  CONNECT,
  /** No response headers within the first-byte timeout, or the body stalled. */
  TIMEOUT,
  /** The upstream answered 5xx. */
  STATUS_5XX,
  /** The connection closed or broke before the body was complete. */
  TRUNCATED,
  /** A narinfo whose signature did not verify against the upstream's keys. */
  BAD_SIGNATURE,
  /** A narinfo that did not parse, or that describes another store path than the one asked for. */
  BAD_NARINFO,
  /**
   * The upstream refused our credentials (401, or 401/403 to the {@code /nix-cache-info} probe, or
   * an S3 signature or credential error).
   */
  AUTH,
  /** The upstream's TLS certificate did not verify (unknown issuer, expired, wrong host name). */
  TLS,
  /** The upstream asked to slow down: 429, or 503 with Retry-After ({@link Throttle}). */
  THROTTLED,
  /** Anything else (protocol error, oversized answer, a bad redirect). */
  PROTOCOL;

  public String label() {
    return name().toLowerCase(Locale.ROOT);
  }
}

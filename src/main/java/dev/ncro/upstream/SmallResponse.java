package dev.ncro.upstream;

import io.netty.handler.codec.http.HttpHeaders;

/**
 * A complete small upstream answer (narinfo, nix-cache-info); {@code elapsedNanos}: the upstream's
 * latency (request sent to headers received, see {@link Exchange#latencyNanos}); {@code arrivalNanos}:
 * when the headers reached the socket ({@link System#nanoTime} scale), which orders a race's answers.
 */
public record SmallResponse(
    int status, HttpHeaders headers, byte[] body, long elapsedNanos, long arrivalNanos) {
  /** An answer whose arrival time is unknown: taken as now. */
  public SmallResponse(int status, HttpHeaders headers, byte[] body, long elapsedNanos) {
    this(status, headers, body, elapsedNanos, System.nanoTime());
  }

  public double elapsedMillis() {
    return elapsedNanos / 1e6;
  }
}

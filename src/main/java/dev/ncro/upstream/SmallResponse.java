package dev.ncro.upstream;

import io.netty.handler.codec.http.HttpHeaders;

/** A complete small upstream answer (narinfo, nix-cache-info) and how long it took. */
public record SmallResponse(int status, HttpHeaders headers, byte[] body, long elapsedNanos) {
  public double elapsedMillis() {
    return elapsedNanos / 1e6;
  }
}

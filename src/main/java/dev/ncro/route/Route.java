package dev.ncro.route;

/**
 * A routing decision: store path {@code hash} is served by {@code upstream} (its URL text). It
 * keeps the narinfo body as served (so a live route answers without an upstream round trip) and
 * the NAR {@code narUrl} it carries (so the NAR request later goes to the same upstream, even after
 * the route stopped being live for narinfo purposes: Nix may ask for a NAR weeks later).
 */
public record Route(
    String hash,
    String upstream,
    double latencyMs,
    String narUrl,
    String fileHash,
    String narHash,
    long narSize,
    byte[] narinfo,
    long verifiedAtMillis,
    long expiresAtMillis) {

  public boolean liveAt(long nowMillis) {
    return nowMillis < expiresAtMillis;
  }
}

package dev.ncro.route;

import java.nio.charset.StandardCharsets;

/** Routes for the route store's tests: every field derived from the hash. */
final class TestRoutes {
  private TestRoutes() {}

  /** A route for {@code hash}, verified at {@code now}, live for {@code ttl} ms. */
  static Route route(String hash, long now, long ttl) {
    return new Route(
        hash,
        "http://up",
        12.5,
        "nar/" + hash + ".nar.xz",
        "sha256:f" + hash,
        "sha256:n" + hash,
        1234,
        ("StorePath: /nix/store/" + hash + "-x\n").getBytes(StandardCharsets.UTF_8),
        now,
        now + ttl);
  }

  /** A 32-character store hash, distinct for each {@code i}. */
  static String hash(int i) {
    return String.format("%032d", i).replace('0', 'a');
  }
}

package dev.ncro.upstream;

import java.util.Locale;

/**
 * An upstream's state. {@link #ACTIVE}, {@link #DEGRADED} and {@link #DOWN} follow failures, as in
 * the original ncro: DEGRADED after 3 consecutive failures, DOWN after 10, and one success makes it
 * ACTIVE again. {@link #UNAUTHORIZED} and {@link #CERTIFICATE_ERROR} say the upstream refuses us
 * rather than fails: its {@code /nix-cache-info} answered 401/403, or its TLS certificate did not
 * verify. Retrying those on every request would only repeat the refusal, so, like DOWN, they are
 * left out of races and NAR attempts until a probe succeeds.
 */
public enum Health {
  ACTIVE,
  DEGRADED,
  DOWN,
  UNAUTHORIZED,
  CERTIFICATE_ERROR;

  static final int DEGRADED_AFTER = 3;
  static final int DOWN_AFTER = 10;

  static Health forConsecutiveFailures(int failures) {
    if (failures >= DOWN_AFTER) {
      return DOWN;
    }
    return failures >= DEGRADED_AFTER ? DEGRADED : ACTIVE;
  }

  /** The name in {@code /status}, metric labels and logs: lower case. */
  public String label() {
    return name().toLowerCase(Locale.ROOT);
  }
}

package dev.ncro.upstream;

/**
 * An upstream's state, as in the original ncro: {@link #DEGRADED} after 3 consecutive failures,
 * {@link #DOWN} after 10, and one success makes it {@link #ACTIVE} again. DOWN upstreams are left
 * out of races and NAR attempts; only the prober keeps talking to them. {@link #UNAUTHORIZED}: the
 * upstream refused ncro's credentials; it is left out the same way until an answer proves them
 * accepted again.
 */
public enum Health {
  ACTIVE,
  DEGRADED,
  DOWN,
  UNAUTHORIZED;

  static final int DEGRADED_AFTER = 3;
  static final int DOWN_AFTER = 10;

  static Health forConsecutiveFailures(int failures) {
    if (failures >= DOWN_AFTER) {
      return DOWN;
    }
    return failures >= DEGRADED_AFTER ? DEGRADED : ACTIVE;
  }
}

package dev.ncro.upstream;

/**
 * Latency EMA and health of one upstream. Updated from race answers, NAR attempts and background
 * probes on many threads; a small lock keeps the EMA, the failure count and the state consistent
 * with each other (updates are rare next to reads, and each is a few arithmetic operations).
 */
public final class UpstreamStats {
  private final double alpha;
  private double emaMillis = Double.NaN;
  private int consecutiveFailures;
  private Health health = Health.ACTIVE;
  private long lastProbeNanos;

  UpstreamStats(double alpha) {
    this.alpha = alpha;
  }

  /** Records a successful exchange that took {@code millis}; restores ACTIVE. Returns the old health. */
  public synchronized Health recordSuccess(double millis) {
    emaMillis = Double.isNaN(emaMillis) ? millis : alpha * millis + (1 - alpha) * emaMillis;
    Health before = health;
    consecutiveFailures = 0;
    health = Health.ACTIVE;
    return before;
  }

  /** Records a success without a meaningful latency sample (e.g. a 404 that proves liveness). */
  public synchronized Health recordAlive() {
    Health before = health;
    consecutiveFailures = 0;
    health = Health.ACTIVE;
    return before;
  }

  /** Records a failure (refused, timeout, 5xx); returns the old health. */
  public synchronized Health recordFailure() {
    Health before = health;
    consecutiveFailures++;
    health = Health.forConsecutiveFailures(consecutiveFailures);
    return before;
  }

  public synchronized void markProbed(long nanoTime) {
    lastProbeNanos = nanoTime;
  }

  public synchronized long lastProbeNanos() {
    return lastProbeNanos;
  }

  /** EMA latency in milliseconds, NaN before the first sample. */
  public synchronized double emaMillis() {
    return emaMillis;
  }

  public synchronized int consecutiveFailures() {
    return consecutiveFailures;
  }

  public synchronized Health health() {
    return health;
  }
}

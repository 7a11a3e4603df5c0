package dev.ncro.upstream;

import java.util.EnumMap;
import java.util.concurrent.atomic.LongAdder;

/**
 * Latency EMA, health and running totals of one upstream. Updated from race answers, NAR attempts
 * and background probes on many threads; a small lock keeps the EMA, the failure count and the
 * state consistent with each other (updates are rare next to reads, and each is a few arithmetic
 * operations). The totals (race wins, errors by kind, NAR bytes) are plain adders: metrics and
 * {@code /status} read them, so every series exists, at zero, from start-up.
 */
public final class UpstreamStats {
  private final double alpha;
  private final LongAdder raceWins = new LongAdder();
  private final LongAdder narBytes = new LongAdder();
  private final EnumMap<FailureKind, LongAdder> errors = new EnumMap<>(FailureKind.class);
  private double emaMillis = Double.NaN;
  private int consecutiveFailures;
  private Health health = Health.ACTIVE;
  private long lastProbeNanos;
  private boolean suspended;
  /** System.nanoTime() of the latest answer (success or alive); valid when {@code answered}. */
  private long lastAnswerNanos;
  private boolean answered;
  private long downSinceNanos;
  /** The latest answer refused ncro's credentials; cleared by any answer that accepted them. */
  private boolean unauthorized;

  UpstreamStats(double alpha) {
    this.alpha = alpha;
    for (FailureKind k : FailureKind.values()) {
      errors.put(k, new LongAdder());
    }
  }

  void countError(FailureKind kind) {
    errors.get(kind).increment();
  }

  void countRaceWin() {
    raceWins.increment();
  }

  /** Adds {@code n} NAR body bytes streamed from this upstream to a client. */
  public void countNarBytes(long n) {
    narBytes.add(n);
  }

  public long errors(FailureKind kind) {
    return errors.get(kind).sum();
  }

  public long raceWins() {
    return raceWins.sum();
  }

  public long narBytes() {
    return narBytes.sum();
  }

  /** Records a successful exchange that took {@code millis}; restores ACTIVE. Returns the old health. */
  public synchronized Health recordSuccess(double millis) {
    emaMillis = Double.isNaN(emaMillis) ? millis : alpha * millis + (1 - alpha) * emaMillis;
    answeredNow();
    Health before = health();
    consecutiveFailures = 0;
    health = Health.ACTIVE;
    unauthorized = false;
    return before;
  }

  /** Records a success without a meaningful latency sample (e.g. a 404 that proves liveness). */
  public synchronized Health recordAlive() {
    answeredNow();
    Health before = health();
    consecutiveFailures = 0;
    health = Health.ACTIVE;
    unauthorized = false;
    return before;
  }

  /**
   * Records an answer refusing ncro's credentials: the upstream is alive (no suspension, no
   * failure count) but UNAUTHORIZED until an answer accepts them. Returns the old health.
   */
  public synchronized Health recordUnauthorized() {
    answeredNow();
    Health before = health();
    unauthorized = true;
    return before;
  }

  /** Records a failure (refused, timeout, 5xx); returns the old health. */
  public synchronized Health recordFailure() {
    Health before = health();
    consecutiveFailures++;
    health = Health.forConsecutiveFailures(consecutiveFailures);
    if (health == Health.DOWN && before != Health.DOWN) {
      downSinceNanos = System.nanoTime();
    }
    return before;
  }

  /** How long it has been DOWN without a single success, in nanoseconds; 0 when not DOWN. */
  public synchronized long downForNanos() {
    return health == Health.DOWN && !unauthorized ? System.nanoTime() - downSinceNanos : 0;
  }

  private void answeredNow() {
    suspended = false;
    lastAnswerNanos = System.nanoTime();
    answered = true;
  }

  /** True when the upstream answered after {@code startedNanos} (a {@link System#nanoTime()}). */
  public synchronized boolean answeredSince(long startedNanos) {
    return answered && lastAnswerNanos - startedNanos > 0;
  }

  /** Skips the upstream in races and NAR attempts until it answers again (see UpstreamRegistry). */
  synchronized void suspend() {
    suspended = true;
  }

  public synchronized boolean suspended() {
    return suspended;
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
    return unauthorized ? Health.UNAUTHORIZED : health;
  }
}

package dev.ncro.upstream;

import java.time.Duration;
import java.util.EnumMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.LongAdder;
import java.util.function.IntSupplier;

/**
 * Latency EMA, health and running totals of one upstream. Updated from race answers, NAR attempts
 * and background probes on many threads; a small lock keeps the EMA, the failure count and the
 * state consistent with each other (updates are rare next to reads, and each is a few arithmetic
 * operations). The totals (race wins, errors by kind, NAR bytes) are plain adders: metrics and
 * {@code /status} read them, so every series exists, at zero, from start-up.
 *
 * <p>Reads take no lock. Every request asks {@code available()} of each upstream (races, NAR plans,
 * ordering), many times per write. So each write, under the lock, publishes an immutable
 * {@link View} through a volatile field, and the readers of health, state, suspension and EMA read
 * that one snapshot: consistent with itself, never blocked by a writer (HikariCP's hot path works
 * the same way).
 */
public final class UpstreamStats {
  private final double alpha;
  private final LongAdder raceWins = new LongAdder();
  private final LongAdder narBytes = new LongAdder();
  private final EnumMap<FailureKind, LongAdder> errors = new EnumMap<>(FailureKind.class);
  private double emaMillis = Double.NaN;
  private int consecutiveFailures;
  private Health health = Health.ACTIVE;
  /** UNAUTHORIZED or CERTIFICATE_ERROR until a probe succeeds; null otherwise. Overrides {@code health}. */
  private Health blocked;

  private String blockedReason = "";
  /** A refused single object has been logged at WARN; reset by the next successful answer. */
  private boolean refusalWarned;

  private final LongAdder tlsHandshakes = new LongAdder();
  private long lastProbeNanos;
  private boolean suspended;
  /** System.nanoTime() of the latest answer (success or alive); valid when {@code answered}. */
  private long lastAnswerNanos;

  private boolean answered;
  private long downSinceNanos;
  /** Throttles (429, 503 with Retry-After) since the last other answer: the backoff's exponent. */
  private int throttlesInARow;

  /** What readers see: the state as of the latest write. */
  private record View(
      Health health,
      Health blocked,
      String blockedReason,
      boolean suspended,
      double emaMillis,
      int consecutiveFailures,
      boolean throttled,
      long throttledUntilNanos) {
    boolean throttledAt(long nowNanos) {
      return throttled && nowNanos - throttledUntilNanos < 0;
    }

    Health state() {
      return blocked != null ? blocked : health;
    }
  }

  private volatile View view = new View(Health.ACTIVE, null, "", false, Double.NaN, 0, false, 0);

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

  /** Counts a completed TLS handshake with this upstream (or a host it redirected to). */
  void countTlsHandshake() {
    tlsHandshakes.increment();
  }

  private volatile IntSupplier idleConnections = () -> 0;

  /** Where {@link #idleConnections()} reads from: the upstream's connection pool, once it exists. */
  void idleConnections(IntSupplier source) {
    idleConnections = source;
  }

  /** Idle keep-alive connections to the upstream, ready for a request (warm-up keeps a few). */
  public int idleConnections() {
    return idleConnections.getAsInt();
  }

  /** TLS handshakes so far: a warm pool makes none, so this stays flat under steady load. */
  public long tlsHandshakes() {
    return tlsHandshakes.sum();
  }

  /**
   * Records a successful exchange that took {@code millis}; restores ACTIVE (an UNAUTHORIZED or
   * CERTIFICATE_ERROR state stays until {@link #unblock}). Returns the old state.
   */
  public synchronized Health recordSuccess(double millis) {
    emaMillis = Double.isNaN(emaMillis) ? millis : alpha * millis + (1 - alpha) * emaMillis;
    return recordAlive();
  }

  /** Records a success without a meaningful latency sample (e.g. a 404 that proves liveness). */
  public synchronized Health recordAlive() {
    answeredNow();
    throttlesInARow = 0;
    Health before = state();
    consecutiveFailures = 0;
    health = Health.ACTIVE;
    publish();
    return before;
  }

  /** Records a failure (refused, timeout, 5xx); returns the old state. */
  public synchronized Health recordFailure() {
    Health before = state();
    consecutiveFailures++;
    health = Health.forConsecutiveFailures(consecutiveFailures);
    if (health == Health.DOWN && before != Health.DOWN) {
      downSinceNanos = System.nanoTime();
    }
    publish();
    return before;
  }

  /** How long it has been DOWN without a single success, in nanoseconds; 0 when not DOWN. */
  public synchronized long downForNanos() {
    return health == Health.DOWN ? System.nanoTime() - downSinceNanos : 0;
  }

  /** Called under the lock by every write that changes what {@link View} holds. */
  private void publish() {
    View v = view;
    view = new View(
        health,
        blocked,
        blockedReason,
        suspended,
        emaMillis,
        consecutiveFailures,
        v.throttled(),
        v.throttledUntilNanos());
  }

  /**
   * Leaves the upstream out of races and NAR attempts for {@code asked} (its Retry-After), or, when
   * null, for {@link Throttle#backoff} of the throttles in a row. A later end never moves earlier.
   * Returns true when this starts a throttle (none was running): worth one log line.
   */
  synchronized boolean throttle(Duration asked) {
    long now = System.nanoTime();
    View v = view;
    boolean starts = !v.throttledAt(now);
    throttlesInARow++;
    Duration wait = asked != null ? asked : Throttle.backoff(throttlesInARow);
    long until = now + wait.toNanos();
    if (v.throttledAt(now) && v.throttledUntilNanos() - until > 0) {
      until = v.throttledUntilNanos();
    }
    view = new View(
        health, blocked, blockedReason, suspended, emaMillis, consecutiveFailures, true, until);
    return starts;
  }

  /** Milliseconds until the upstream may be asked again after a throttle; 0 when it may now. */
  public long throttledMillis() {
    View v = view;
    long now = System.nanoTime();
    return v.throttledAt(now) ? TimeUnit.NANOSECONDS.toMillis(v.throttledUntilNanos() - now) : 0;
  }

  private void answeredNow() {
    suspended = false;
    refusalWarned = false;
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
    publish();
  }

  public boolean suspended() {
    return view.suspended();
  }

  public synchronized void markProbed(long nanoTime) {
    lastProbeNanos = nanoTime;
  }

  public synchronized long lastProbeNanos() {
    return lastProbeNanos;
  }

  /** EMA latency in milliseconds, NaN before the first sample. */
  public double emaMillis() {
    return view.emaMillis();
  }

  public int consecutiveFailures() {
    return view.consecutiveFailures();
  }

  /** ACTIVE, DEGRADED or DOWN, from the failure count alone; see {@link #state()}. */
  public Health health() {
    return view.health();
  }

  /** What {@code /status} shows: UNAUTHORIZED or CERTIFICATE_ERROR while blocked, else {@link #health()}. */
  public Health state() {
    return view.state();
  }

  /** The reason for an UNAUTHORIZED or CERTIFICATE_ERROR state (never a secret); empty otherwise. */
  public String stateReason() {
    View v = view;
    return v.blocked() != null ? v.blockedReason() : "";
  }

  /** Not DOWN and not blocked, read from one snapshot; see {@link Upstream#usable()}. */
  boolean usable() {
    View v = view;
    return v.health() != Health.DOWN && v.blocked() == null;
  }

  /** Usable, not suspended and not throttled, read from one snapshot; see {@link Upstream#available()}. */
  boolean available() {
    View v = view;
    return v.health() != Health.DOWN
        && v.blocked() == null
        && !v.suspended()
        && !(v.throttled() && v.throttledAt(System.nanoTime())); // no clock read unless throttled
  }

  /** True while UNAUTHORIZED or CERTIFICATE_ERROR. */
  public boolean blocked() {
    return view.blocked() != null;
  }

  /** Enters {@code state} (UNAUTHORIZED or CERTIFICATE_ERROR) with {@code reason}; returns the old state. */
  synchronized Health block(Health state, String reason) {
    Health before = state();
    blocked = state;
    blockedReason = reason;
    publish();
    return before;
  }

  /** Leaves an UNAUTHORIZED or CERTIFICATE_ERROR state (a probe succeeded); returns the old state. */
  synchronized Health unblock() {
    Health before = state();
    blocked = null;
    blockedReason = "";
    publish();
    return before;
  }

  /** True the first time since the last success: a refused object is worth one WARN, not one per request. */
  synchronized boolean firstRefusal() {
    if (refusalWarned) {
      return false;
    }
    refusalWarned = true;
    return true;
  }
}

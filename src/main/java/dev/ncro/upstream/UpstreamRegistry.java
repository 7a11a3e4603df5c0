package dev.ncro.upstream;

import dev.ncro.config.Config;
import dev.ncro.config.S3Location;
import dev.ncro.config.UpstreamConfig;
import io.netty.handler.codec.http.EmptyHttpHeaders;
import io.netty.handler.codec.http.HttpHeaders;
import java.net.URI;
import java.net.URISyntaxException;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.function.Consumer;
import java.util.function.Function;
import java.util.stream.Stream;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The upstreams (configured, and those mDNS discovery adds while they are announced) and the one
 * place their health changes are recorded, so every transition is logged once whatever observed it
 * (race, NAR attempt or probe).
 *
 * <p>The set is an immutable list published through a volatile field: every request reads it
 * (races, NAR plans, /status, metrics) without a lock and sees one consistent set for as long as
 * it holds the list; the rare changes (a cache announced or withdrawn on the LAN) copy it under a
 * lock. A request planned on the old set may still reach an upstream just removed: that costs it
 * at most one failed attempt, as a cache that vanishes without a goodbye would anyway.
 */
public final class UpstreamRegistry {
  private static final Logger log = LoggerFactory.getLogger(UpstreamRegistry.class);
  private volatile List<Upstream> all;
  private final Optional<Upstream> fallback;
  private final long goneAfterNanos;
  private volatile Consumer<Upstream> onSuspend = u -> {};
  private final List<Listener> listeners = new CopyOnWriteArrayList<>();

  /** Told of each upstream discovery adds or removes, after the new set is published. */
  public interface Listener {
    void added(Upstream u);

    void removed(Upstream u);
  }

  /** {@code goneAfter}: how long an upstream must have been DOWN before it counts as gone. */
  public UpstreamRegistry(List<Upstream> all, Duration goneAfter) {
    this(all, null, goneAfter);
  }

  /** With {@code fallback} (null for none) as the fallback cache, kept apart from {@code all}. */
  public UpstreamRegistry(List<Upstream> all, Upstream fallback, Duration goneAfter) {
    this.all = List.copyOf(all);
    this.fallback = Optional.ofNullable(fallback);
    this.goneAfterNanos = goneAfter.toNanos();
  }

  public void addListener(Listener l) {
    listeners.add(l);
  }

  /**
   * Adds a discovered upstream; false (and nothing changes) when an upstream of that name is
   * already here, configured or discovered: a configured upstream always wins over an
   * announcement of the same URL.
   */
  public boolean addDiscovered(Upstream u) {
    if (!u.discovered()) {
      throw new IllegalArgumentException("not a discovered upstream: " + u.name());
    }
    synchronized (this) { // listeners run inside, so they see additions and removals in order
      if (Upstream.byName(all, u.name()).isPresent()
          || fallback.filter(f -> f.name().equals(u.name())).isPresent()) {
        return false;
      }
      List<Upstream> next = new ArrayList<>(all);
      next.add(u);
      all = List.copyOf(next);
      log.atInfo()
          .setMessage("discovered upstream added")
          .addKeyValue("upstream", u.name())
          .addKeyValue("instance", u.discoveredAs())
          .addKeyValue("priority", u.priority())
          .log();
      listeners.forEach(l -> l.added(u));
      return true;
    }
  }

  /** Removes the discovered upstream {@code name}; configured upstreams are never removed. */
  public synchronized Optional<Upstream> removeDiscovered(String name, String cause) {
    Upstream gone = Upstream.byName(all, name).filter(Upstream::discovered).orElse(null);
    if (gone == null) {
      return Optional.empty();
    }
    List<Upstream> next = new ArrayList<>(all);
    next.remove(gone);
    all = List.copyOf(next);
    log.atInfo()
        .setMessage("discovered upstream removed")
        .addKeyValue("upstream", name)
        .addKeyValue("instance", gone.discoveredAs())
        .addKeyValue("cause", cause)
        .log();
    listeners.forEach(l -> l.removed(gone));
    return Optional.of(gone);
  }

  public static UpstreamRegistry fromConfig(Config config) {
    return fromConfig(config, u -> RequestAuth.NONE);
  }

  /**
   * As {@link #fromConfig(Config)}; each S3 upstream with the {@link RequestAuth} {@code s3Auth}
   * gives it (SigV4), the others with their configured credentials.
   */
  public static UpstreamRegistry fromConfig(
      Config config, Function<UpstreamConfig, RequestAuth> s3Auth) {
    return fromConfig(config, s3Auth, null);
  }

  /**
   * As {@link #fromConfig(Config, Function)}; each {@code file://} cache is reached through {@code
   * local}, which serves the directories of {@link #localDirs} in that order (null when there are
   * none).
   */
  public static UpstreamRegistry fromConfig(
      Config config, Function<UpstreamConfig, RequestAuth> s3Auth, LocalCacheServer local) {
    Duration twoProbes = config.cache().probeInterval().multipliedBy(2);
    double alpha = config.cache().latencyAlpha();
    UpstreamConfig fb = config.fallbackCache().upstream();
    List<Path> dirs = localDirs(config);
    Function<UpstreamConfig, Upstream> regular = u -> u.localDir() != null
        ? Upstream.local(u, alpha, local.endpoint(dirs.indexOf(u.localDir())), local.auth(), false)
        : u.s3() != null ? new Upstream(u, alpha, s3Auth.apply(u)) : new Upstream(u, alpha);
    Upstream fallback = null;
    if (fb != null) {
      fallback = fb.localDir() != null
          ? Upstream.local(
              fb, alpha, local.endpoint(dirs.indexOf(fb.localDir())), local.auth(), true)
          : Upstream.fallback(fb, alpha, fb.s3() != null ? s3Auth.apply(fb) : Upstream.authFor(fb));
    }
    return new UpstreamRegistry(
        config.upstreams().stream().map(regular).toList(),
        fallback,
        twoProbes.compareTo(Duration.ofMinutes(1)) > 0 ? twoProbes : Duration.ofMinutes(1));
  }

  /** The directories of the {@code file://} caches (upstreams, then the fallback cache), each once. */
  public static List<Path> localDirs(Config config) {
    List<UpstreamConfig> all = new ArrayList<>(config.upstreams());
    if (config.fallbackCache().upstream() != null) {
      all.add(config.fallbackCache().upstream());
    }
    return all.stream()
        .map(UpstreamConfig::localDir)
        .filter(d -> d != null)
        .distinct()
        .toList();
  }

  /**
   * Gone: DOWN, and without a single answer for {@code goneAfter} (two probe intervals, at least a
   * minute). Only then does its silence stop meaning "unknown": concurrent requests can pile up ten
   * failures within one timeout, which is not yet evidence that a cache is gone for good.
   */
  public boolean gone(Upstream u) {
    return u.stats().downForNanos() > goneAfterNanos;
  }

  /**
   * The regular upstreams, configured first, then discovered: the ones raced, ordered and announced.
   * Never the fallback cache. An immutable snapshot: hold it for one consistent view.
   */
  public List<Upstream> all() {
    return all;
  }

  /** The fallback cache, when {@code fallback_cache} is enabled. */
  public Optional<Upstream> fallback() {
    return fallback;
  }

  /** The regular upstreams and then the fallback cache: everything the prober checks. */
  public List<Upstream> allWithFallback() {
    return fallback.isEmpty()
        ? all
        : Stream.concat(all.stream(), fallback.stream()).toList();
  }

  /**
   * The upstream a stored route names: a regular one, or the fallback cache (routes it answered are
   * stored like the others, so its NARs and warm narinfos are served through ncro too).
   */
  public Optional<Upstream> routeTarget(String name) {
    Optional<Upstream> u = byName(name);
    return u.isPresent() ? u : fallback.filter(f -> f.name().equals(name));
  }

  /** Available upstreams (not DOWN, not suspended), best first (see {@link UpstreamOrder}). */
  public List<Upstream> availableOrdered() {
    return UpstreamOrder.order(all().stream().filter(Upstream::available).toList());
  }

  /** Called with an upstream that was just suspended: the prober checks it at once. */
  public void onSuspend(Consumer<Upstream> listener) {
    this.onSuspend = listener;
  }

  public Optional<Upstream> byName(String name) {
    return Upstream.byName(all(), name);
  }

  /**
   * The configured upstream a URL from elsewhere (a peer's gossip) names, compared in canonical
   * form; empty for anything unparsable or not configured here.
   */
  public Optional<Upstream> byUrl(String url) {
    if (S3Location.isS3(url)) {
      try {
        return byName(S3Location.parse(url).canonical().toString());
      } catch (S3Location.Malformed e) {
        return Optional.empty();
      }
    }
    try {
      URI u = new URI(url);
      if (u.getScheme() == null || u.getHost() == null) {
        return Optional.empty();
      }
      return byName(UpstreamConfig.normalize(u).toString());
    } catch (URISyntaxException e) {
      return Optional.empty();
    }
  }

  public boolean anyUsable() {
    return all().stream().anyMatch(Upstream::usable);
  }

  /**
   * A probe of {@code /nix-cache-info} succeeded: the one thing that ends an UNAUTHORIZED or
   * CERTIFICATE_ERROR state (live traffic does not ask such an upstream, so could not end it).
   */
  public void probeSucceeded(Upstream u, double millis) {
    Health before = u.stats().unblock();
    u.stats().recordSuccess(millis);
    logTransition(u, before, "probe succeeded");
  }

  /**
   * The upstream refused ncro as a whole: its {@code /nix-cache-info} answered 401 or 403.
   * Counted as an {@code auth} error; the upstream is UNAUTHORIZED (out of races) until a probe
   * succeeds. Logged once per state change, however many probes repeat it.
   */
  public void unauthorized(Upstream u, String reason) {
    u.stats().countError(FailureKind.AUTH);
    Health before = u.stats().block(Health.UNAUTHORIZED, reason);
    u.stats().recordAlive(); // it answered: not a sign of being down
    logTransition(u, before, reason);
  }

  /**
   * One object (narinfo, NAR) answered 401: counted as an {@code auth} error, the lookup is
   * unavailable rather than absent. One WARN until the upstream next answers normally, not one
   * per request: a closure of hundreds of paths would otherwise flood the log.
   */
  public void objectUnauthorized(Upstream u, String what, int status) {
    u.stats().countError(FailureKind.AUTH);
    if (u.stats().firstRefusal()) {
      log.atWarn()
          .setMessage(
              "upstream refused a request: check its credentials (further refusals are logged at debug)")
          .addKeyValue("upstream", u.name())
          .addKeyValue("request", what)
          .addKeyValue("status", status)
          .log();
    } else if (log.isDebugEnabled()) {
      log.atDebug()
          .setMessage("upstream refused a request")
          .addKeyValue("upstream", u.name())
          .addKeyValue("request", what)
          .addKeyValue("status", status)
          .log();
    }
  }

  /**
   * {@code u} answered {@code what} with a 503 without {@code Retry-After}, whose {@code body} has
   * been read: S3's {@code SlowDown} asks to slow down ({@link #throttled}), anything else is a 5xx
   * failure.
   */
  public void unavailable(Upstream u, String what, byte[] body, long sentNanos) {
    if (Throttle.asked(503, EmptyHttpHeaders.INSTANCE, body)) {
      throttled(u, what, 503, EmptyHttpHeaders.INSTANCE, sentNanos);
    } else {
      failure(u, FailureKind.STATUS_5XX, what + ": status 503", sentNanos);
    }
  }

  /**
   * {@code u} answered {@code what} with a request to slow down ({@link Throttle#asked}): it is
   * left out of races and NAR attempts for its {@code Retry-After}, or a growing backoff. One info
   * line when a throttle starts, none while it runs. A 503 also counts as a failure ({@code
   * sentNanos}: when the request went out); a 429 does not: the upstream is up, only busy with us.
   */
  public void throttled(Upstream u, String what, int status, HttpHeaders headers, long sentNanos) {
    if (status >= 500) {
      failure(u, FailureKind.STATUS_5XX, what + ": status " + status, sentNanos);
    }
    u.stats().countError(FailureKind.THROTTLED);
    Duration asked = Throttle.retryAfter(headers, Instant.now());
    if (u.stats().throttle(asked)) {
      log.atInfo()
          .setMessage("upstream asked to slow down; left out of races until the wait is over")
          .addKeyValue("upstream", u.name())
          .addKeyValue("request", what)
          .addKeyValue("status", status)
          .addKeyValue("wait_ms", u.stats().throttledMillis())
          .addKeyValue(
              "retry_after", asked == null ? "none (backing off)" : asked.toSeconds() + "s")
          .log();
    }
  }

  /** A successful exchange with a latency sample. */
  public void success(Upstream u, double millis) {
    logTransition(u, u.stats().recordSuccess(millis), "success");
  }

  /** The upstream answered (e.g. 404), proving it is alive, without a useful latency sample. */
  public void alive(Upstream u) {
    logTransition(u, u.stats().recordAlive(), "answered");
  }

  /**
   * A failed exchange: refused, timed out, 5xx, broken body. Counts towards DEGRADED and DOWN.
   * A timeout or a refused connection also suspends the upstream until it answers again: a black
   * hole costs one timeout, not one per request until it is finally DOWN. The prober is asked to
   * check it at once, and any answer (probe or live) lifts the suspension. A timeout of a request
   * sent before the upstream's latest answer ({@code startedNanos}, a {@link System#nanoTime()})
   * says nothing new and does not suspend it again: a request sent into a black hole that has since
   * come back would otherwise shut it out once more when its timeout fires.
   */
  public void failure(Upstream u, FailureKind kind, String reason, long startedNanos) {
    u.stats().countError(kind);
    if (kind == FailureKind.TLS) {
      // A certificate that does not verify will not verify on the next request either.
      Health before = u.stats().block(Health.CERTIFICATE_ERROR, reason);
      u.stats().recordFailure();
      logTransition(u, before, reason); // the periodic probe tries again
      return;
    }
    if ((kind == FailureKind.TIMEOUT || kind == FailureKind.CONNECT)
        && !u.stats().suspended()
        && !u.stats().answeredSince(startedNanos)) {
      u.stats().suspend();
      log.atInfo()
          .setMessage("upstream suspended until it answers again")
          .addKeyValue("upstream", u.name())
          .addKeyValue("cause", reason)
          .log();
      onSuspend.accept(u);
    }
    Health before = u.stats().recordFailure();
    logTransition(u, before, reason);
    if (log.isDebugEnabled()) {
      log.atDebug()
          .setMessage("upstream failure")
          .addKeyValue("upstream", u.name())
          .addKeyValue("reason", reason)
          .addKeyValue("consecutive", u.stats().consecutiveFailures())
          .log();
    }
  }

  /**
   * The upstream answered, but with something unusable (a narinfo that does not parse or verify):
   * counted as an error of {@code kind}, yet it proves the upstream alive.
   */
  public void badAnswer(Upstream u, FailureKind kind) {
    u.stats().countError(kind);
    alive(u);
  }

  /** {@code u} won a narinfo race. */
  public void raceWon(Upstream u) {
    u.stats().countRaceWin();
  }

  private void logTransition(Upstream u, Health before, String cause) {
    Health after = u.stats().state();
    if (before != after) {
      boolean refused = after == Health.UNAUTHORIZED || after == Health.CERTIFICATE_ERROR;
      (refused ? log.atWarn() : log.atInfo())
          .setMessage("upstream state changed")
          .addKeyValue("upstream", u.name())
          .addKeyValue("from", before.label())
          .addKeyValue("to", after.label())
          .addKeyValue("cause", cause)
          .addKeyValue("consecutive_failures", u.stats().consecutiveFailures())
          .log();
    }
  }
}

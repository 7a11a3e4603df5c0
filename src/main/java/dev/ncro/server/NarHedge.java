package dev.ncro.server;

import dev.ncro.metrics.Metrics;
import dev.ncro.metrics.NarHedgeOutcome;
import dev.ncro.router.ResumeFinder;
import dev.ncro.upstream.Exchange;
import dev.ncro.upstream.ResponseListener;
import dev.ncro.upstream.Upstream;
import dev.ncro.upstream.UpstreamClient;
import dev.ncro.upstream.UpstreamException;
import io.netty.buffer.ByteBuf;
import io.netty.channel.EventLoop;
import io.netty.handler.codec.http.HttpHeaders;
import io.netty.handler.codec.http.HttpMethod;
import io.netty.handler.codec.http.HttpResponse;
import io.netty.util.concurrent.ScheduledFuture;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The first attempt of a NAR download, hedged. Without it, a routed upstream that accepts the
 * request and then sends nothing holds the client for the whole first-byte timeout (10 s by
 * default) before the next upstream is tried. Here, after {@code delay} without response headers,
 * the same file is also requested from another holder: an upstream whose narinfo for the store path
 * has the identical {@code FileHash} ({@link ResumeFinder#holders}), under the URL that narinfo
 * names. Never a different compression or file. Each further {@code delay} may add one more
 * holder, with at most {@code max} requests in flight, the routed one included.
 *
 * <p>The first attempt whose headers are a 2xx wins: the others are aborted (before their headers,
 * through {@link UpstreamClient}'s {@code onSent}) and the {@link NarProxy} continues with the
 * winner alone, as if it had been the only request. An attempt answering an error while others are
 * still in flight steps aside (its upstream's health is recorded as the proxy would); the last one
 * left is handed to the proxy whatever it answers, so its errors take the usual way (next upstream
 * of the plan, 404, 502).
 *
 * <p>Attempts call back on their own connections' event loops; the decisions are made under this
 * object's monitor, which also hands the proxy over (happens-before) to the winner's loop. After
 * that, the winner's callbacks go to the proxy without a lock.
 */
final class NarHedge {
  private static final Logger log = LoggerFactory.getLogger(NarHedge.class);
  private final NarProxy proxy;
  private final NarHedging settings;
  private final UpstreamClient upstreams;
  private final ResumeFinder holders;
  private final Metrics metrics;
  private final EventLoop timer;
  private final HttpMethod method;
  private final HttpHeaders forward;
  private final String narUrl;
  private final String routeHash;
  private final String fileHash;
  /** The other upstreams that may hold the file, best first. */
  private final List<Upstream> candidates;
  // Guarded by this:
  private final List<Attempt> live = new ArrayList<>();
  private final ArrayDeque<ResumeFinder.Source> found = new ArrayDeque<>();
  private Attempt owner;
  private boolean closed;
  /** No further hedge will be sent (none eligible): the attempts in flight go on alone. */
  private boolean exhausted;

  private boolean lookupStarted;
  private int lookupsPending;
  /** Hedges the clock allows so far: one per {@code delay} elapsed. */
  private int due;

  private int sent;
  private ScheduledFuture<?> tick;

  NarHedge(
      NarProxy proxy,
      NarHedging settings,
      UpstreamClient upstreams,
      ResumeFinder holders,
      Metrics metrics,
      EventLoop timer,
      HttpMethod method,
      HttpHeaders forward,
      String narUrl,
      String routeHash,
      String fileHash,
      List<Upstream> candidates) {
    this.proxy = proxy;
    this.settings = settings;
    this.upstreams = upstreams;
    this.holders = holders;
    this.metrics = metrics;
    this.timer = timer;
    this.method = method;
    this.forward = forward;
    this.narUrl = narUrl;
    this.routeHash = routeHash;
    this.fileHash = fileHash;
    this.candidates = candidates;
  }

  /** Sends the first attempt ({@code path} on {@code first}) and starts the hedge clock. */
  void start(Upstream first, String path) {
    Attempt a = new Attempt(first, path, false);
    synchronized (this) {
      live.add(a);
      tick = timer.schedule(this::onTick, settings.delay().toNanos(), TimeUnit.NANOSECONDS);
    }
    upstreams.send(first, method, path, forward, a);
  }

  /** The client went away: every attempt is aborted, and no hedge is sent any more. */
  void clientClosed() {
    List<Attempt> cancel;
    synchronized (this) {
      if (closed || owner != null) {
        return;
      }
      closed = true;
      stopClock();
      cancel = List.copyOf(live);
      live.clear();
      cancel.stream().filter(a -> a.hedge).forEach(a -> metrics.narHedge(NarHedgeOutcome.LOST));
    }
    cancel.forEach(Attempt::cancel);
  }

  /** Runs on the client's loop, once per delay while no attempt has won and a hedge may still be sent. */
  private void onTick() {
    boolean lookUp;
    synchronized (this) {
      if (closed || exhausted || owner != null) {
        return;
      }
      due++;
      lookUp = due == 1;
    }
    if (lookUp) {
      // Every other candidate's narinfo at once; each holder of the identical file queues as it
      // answers.
      List<CompletableFuture<Optional<ResumeFinder.Source>>> asks =
          holders.holders(routeHash, fileHash, candidates);
      synchronized (this) {
        lookupsPending = asks.size();
        lookupStarted = true;
      }
      asks.forEach(f -> f.thenAccept(this::onHolder));
    }
    synchronized (this) {
      if (!closed && owner == null && (lookupsPending > 0 || !found.isEmpty())) {
        tick = timer.schedule(this::onTick, settings.delay().toNanos(), TimeUnit.NANOSECONDS);
      }
    }
    launch();
  }

  /** One candidate's narinfo answered: a holder of the identical file, or not. */
  private void onHolder(Optional<ResumeFinder.Source> source) {
    synchronized (this) {
      lookupsPending--;
      source.ifPresent(found::add);
    }
    launch();
  }

  /** Sends the hedges that are due, found and within the in-flight limit; counts a hedge that could not be. */
  private void launch() {
    List<Attempt> send = new ArrayList<>();
    synchronized (this) {
      while (!closed
          && !exhausted
          && owner == null
          && sent < due
          && live.size() < settings.max()
          && !found.isEmpty()) {
        ResumeFinder.Source s = found.poll();
        Attempt a = new Attempt(s.upstream(), s.narPath(), true);
        live.add(a);
        sent++;
        send.add(a);
      }
      if (!closed
          && !exhausted
          && owner == null
          && sent == 0
          && due > 0
          && lookupStarted
          && lookupsPending == 0
          && found.isEmpty()) {
        exhausted =
            true; // nothing will ever be sent: the first attempt goes on alone, as without hedging
        metrics.narHedge(NarHedgeOutcome.NONE_ELIGIBLE);
        stopClock();
      }
    }
    for (Attempt a : send) {
      log.atInfo()
          .setMessage(
              "NAR hedged: no response headers from the first upstream within the hedge delay")
          .addKeyValue("nar_url", narUrl)
          .addKeyValue("hedge_upstream", a.upstream.name())
          .addKeyValue("delay_ms", settings.delay().toMillis())
          .log();
      upstreams.send(a.upstream, method, a.path, forward, a);
    }
  }

  private void stopClock() {
    if (tick != null) {
      tick.cancel(false);
    }
  }

  /** {@code a} owns the download from now on; the others are returned, to be cancelled. Holds the monitor. */
  private List<Attempt> settle(Attempt a, boolean won) {
    owner = a;
    stopClock();
    List<Attempt> losers = new ArrayList<>(live);
    losers.remove(a);
    live.clear();
    if (a.hedge) {
      metrics.narHedge(won ? NarHedgeOutcome.WON : NarHedgeOutcome.FAILED);
    }
    losers.stream().filter(l -> l.hedge).forEach(l -> metrics.narHedge(NarHedgeOutcome.LOST));
    return losers;
  }

  /** What an attempt does with a callback it cannot simply forward. */
  private enum Verdict {
    OWN,
    ABORT,
    STEP_ASIDE
  }

  /** One request of the hedged first attempt. */
  private final class Attempt implements ResponseListener {
    final Upstream upstream;
    final String path;
    final boolean hedge;
    final long sentNanos = System.nanoTime();
    /** Guarded by the hedge's monitor. */
    private Exchange exchange;

    private boolean cancelled;
    /** This attempt owns the download: callbacks go to the proxy. Confined to this attempt's loop. */
    private boolean forwarding;

    Attempt(Upstream upstream, String path, boolean hedge) {
      this.upstream = upstream;
      this.path = path;
      this.hedge = hedge;
    }

    void cancel() {
      Exchange ex;
      synchronized (NarHedge.this) {
        cancelled = true;
        ex = exchange;
      }
      if (ex != null) {
        ex.abort();
      }
    }

    @Override
    public void onSent(Exchange ex) {
      boolean abort;
      synchronized (NarHedge.this) {
        exchange = ex;
        abort = cancelled;
      }
      if (abort) {
        ex.abort();
      } else if (forwarding) {
        proxy.onSent(ex);
      }
    }

    @Override
    public void onHeaders(HttpResponse r, Exchange ex) {
      if (forwarding) {
        proxy.onHeaders(r, ex);
        return;
      }
      int s = r.status().code();
      Verdict v;
      List<Attempt> losers = List.of();
      synchronized (NarHedge.this) {
        exchange = ex;
        if (cancelled || owner != null) {
          v = Verdict.ABORT;
        } else if (s >= 200 && s < 300) {
          losers = settle(this, true);
          v = Verdict.OWN;
        } else if (live.size() > 1) {
          live.remove(this);
          if (hedge) {
            metrics.narHedge(NarHedgeOutcome.FAILED);
          }
          proxy.steppedAside(upstream, s, r.headers(), sentNanos);
          v = Verdict.STEP_ASIDE;
        } else {
          losers = settle(this, false);
          v = Verdict.OWN;
        }
      }
      losers.forEach(Attempt::cancel);
      if (v != Verdict.OWN) {
        ex.abort(); // on this loop: nothing more of this answer arrives
        return;
      }
      own(losers);
      proxy.onHeaders(r, ex);
    }

    /** From now on this attempt is the proxy's only exchange. */
    private void own(List<Attempt> losers) {
      forwarding = true;
      Set<Upstream> slow = new HashSet<>();
      for (Attempt l : losers) {
        slow.add(l.upstream);
      }
      proxy.adopt(upstream, sentNanos, hedge, slow);
    }

    @Override
    public void onContent(ByteBuf content) {
      if (forwarding) {
        proxy.onContent(content);
      } else {
        content.release();
      }
    }

    @Override
    public void onReadBatchEnd() {
      if (forwarding) {
        proxy.onReadBatchEnd();
      }
    }

    @Override
    public void onSpliced(long n) {
      if (forwarding) {
        proxy.onSpliced(n);
      }
    }

    @Override
    public void onComplete() {
      if (forwarding) {
        proxy.onComplete();
      }
    }

    @Override
    public void onError(UpstreamException error, boolean headersSeen) {
      if (forwarding) {
        proxy.onError(error, headersSeen);
        return;
      }
      List<Attempt> losers;
      synchronized (NarHedge.this) {
        if (cancelled || owner != null || !live.contains(this)) {
          return;
        }
        if (live.size() > 1) {
          live.remove(this);
          if (hedge) {
            metrics.narHedge(NarHedgeOutcome.FAILED);
          }
          proxy.failedAside(upstream, error, sentNanos);
          return;
        }
        losers = settle(this, false);
      }
      losers.forEach(Attempt::cancel);
      own(losers);
      proxy.onError(error, headersSeen);
    }
  }
}

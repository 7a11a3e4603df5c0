package dev.ncro.upstream;

import java.time.Duration;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;

/**
 * Looks at every upstream's credential files once per {@link #PERIOD} and, when one changed, reads
 * it again ({@link ReloadingAuth#refresh()}) and has the upstream probed at once: a rotated token
 * takes effect within about a second, and an upstream that was UNAUTHORIZED with the old one comes
 * back without waiting for the next probe round. One {@code stat} per file per period, on the
 * housekeeping thread, and only when some upstream reads its credentials from a file.
 */
public final class CredentialWatcher {
  /** Often enough to follow a rotation within a second; a stat of a small file costs microseconds. */
  public static final Duration PERIOD = Duration.ofSeconds(1);

  private final UpstreamRegistry registry;
  private final Prober prober;

  public CredentialWatcher(UpstreamRegistry registry, Prober prober) {
    this.registry = registry;
    this.prober = prober;
  }

  /** Whether any upstream (or the fallback cache) has credentials from a file. */
  public boolean needed() {
    return registry.allWithFallback().stream().anyMatch(u -> u.auth() instanceof ReloadingAuth);
  }

  /** Runs {@link #checkAll} every {@link #PERIOD} on {@code timer}, if {@link #needed}. */
  public void schedule(ScheduledExecutorService timer) {
    if (needed()) {
      timer.scheduleWithFixedDelay(this::checkAll, 0, PERIOD.toMillis(), TimeUnit.MILLISECONDS);
    }
  }

  /** One look at every file. */
  public void checkAll() {
    for (Upstream u : registry.allWithFallback()) {
      if (u.auth() instanceof ReloadingAuth r && r.refresh()) {
        prober.probeNow(u);
      }
    }
  }
}

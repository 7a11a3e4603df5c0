package dev.ncro.e2e;

import dev.ncro.support.DelayRelay;
import dev.ncro.support.Nginx;
import java.io.IOException;
import java.net.URI;
import java.nio.file.Path;
import java.time.Duration;

/**
 * A binary cache served by nginx behind a {@link DelayRelay}: what a cache {@code rtt} away looks
 * like from here. Clients (ncro or Nix) use {@link #uri()}, the relay's address.
 */
public final class FarCache implements AutoCloseable {
  private final String name;
  private final Nginx nginx;
  private final DelayRelay relay;

  private FarCache(String name, Nginx nginx, DelayRelay relay) {
    this.name = name;
    this.nginx = nginx;
    this.relay = relay;
  }

  /** Serves the cache directory {@code dir}. */
  public static FarCache serving(String name, Path dir, Duration rtt)
      throws IOException, InterruptedException {
    return around(name, Nginx.serve(dir), rtt);
  }

  /** Serves {@code dir} with extra nginx {@code location} blocks (see {@link Nginx#serve(Path, String)}). */
  public static FarCache serving(String name, Path dir, String locations, Duration rtt)
      throws IOException, InterruptedException {
    return around(name, Nginx.serve(dir, locations), rtt);
  }

  /** Answers {@code status} to every request. */
  public static FarCache failing(String name, int status, Duration rtt)
      throws IOException, InterruptedException {
    return around(name, Nginx.failing(status), rtt);
  }

  /** Serves {@code /nix-cache-info}, answers {@code status} to everything else. */
  public static FarCache failingLookups(String name, int status, Duration rtt)
      throws IOException, InterruptedException {
    return around(name, Nginx.failingLookups(status), rtt);
  }

  private static FarCache around(String name, Nginx nginx, Duration rtt)
      throws InterruptedException {
    try {
      return new FarCache(name, nginx, DelayRelay.start(nginx.address(), rtt));
    } catch (InterruptedException | RuntimeException e) {
      nginx.close();
      throw e;
    }
  }

  public String name() {
    return name;
  }

  public URI uri() {
    return relay.uri();
  }

  public Nginx nginx() {
    return nginx;
  }

  @Override
  public void close() {
    relay.close();
    nginx.close();
  }

  @Override
  public String toString() {
    return name + "@" + uri();
  }
}

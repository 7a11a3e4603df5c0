package dev.ncro.support;

import java.io.IOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Comparator;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

/**
 * What every helper that runs a real server process (nginx, tinyproxy, Dante, PostgreSQL, Nix)
 * needs: a free loopback port, a stop that escalates, and its temporary directory removed.
 */
public final class ChildProcesses {
  private ChildProcesses() {}

  /** A loopback port free a moment ago (the caller retries if someone takes it meanwhile). */
  public static int freeLoopbackPort() throws IOException {
    try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
      return s.getLocalPort();
    }
  }

  /**
   * Stops {@code process}: SIGTERM, then SIGKILL after 5 s. {@code killAtExit}, the shutdown hook
   * that would have killed it had the JVM ended first, is removed.
   */
  public static void stop(Process process, Thread killAtExit) {
    try {
      Runtime.getRuntime().removeShutdownHook(killAtExit);
    } catch (IllegalStateException shuttingDown) {
      // the hook is running or about to
    }
    process.destroy();
    try {
      if (!process.waitFor(5, TimeUnit.SECONDS)) {
        process.destroyForcibly().waitFor();
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }

  /** Deletes {@code dir} and everything under it, as far as possible. */
  public static void deleteTree(Path dir) {
    if (!Files.exists(dir)) {
      return;
    }
    try (Stream<Path> walk = Files.walk(dir)) {
      walk.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
    } catch (IOException ignored) {
      // best effort
    }
  }
}

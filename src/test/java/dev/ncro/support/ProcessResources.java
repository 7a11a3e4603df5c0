package dev.ncro.support;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.function.LongSupplier;
import java.util.stream.Stream;

/**
 * What a process holds, read from {@code /proc}: the resource-stability tests compare these after
 * a first round of traffic and after several more, so a leak of one descriptor or one thread per
 * failure shows without any knowledge of where it would be.
 */
public final class ProcessResources {
  private ProcessResources() {}

  public static long descriptors(long pid) {
    try (Stream<Path> fds = Files.list(Path.of("/proc/" + pid + "/fd"))) {
      return fds.count();
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  /**
   * The files of the shared libraries {@code pid} maps ({@code /proc/PID/maps}), each once: where a
   * JVM loaded its native libraries from.
   */
  public static List<String> sharedLibraries(long pid) {
    try (Stream<String> lines = Files.lines(Path.of("/proc/" + pid + "/maps"))) {
      return lines
          .map(l -> l.split("\\s+", 6))
          .filter(f -> f.length == 6 && f[5].endsWith(".so"))
          .map(f -> f[5])
          .distinct()
          .toList();
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  public static long threads(long pid) {
    try {
      return Files.readAllLines(Path.of("/proc/" + pid + "/status")).stream()
          .filter(l -> l.startsWith("Threads:"))
          .mapToLong(l -> Long.parseLong(l.substring("Threads:".length()).trim()))
          .findFirst()
          .orElseThrow();
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  /**
   * Waits up to 20 s for {@code now} to be at most {@code first + slack} (idle connections close on
   * their own time); the failure says where it stands.
   */
  public static void atMost(String what, LongSupplier now, long first, long slack)
      throws InterruptedException {
    try {
      Await.until(
          what + " at most " + (first + slack) + " (" + first + " after the first round)",
          Duration.ofSeconds(20),
          () -> now.getAsLong() <= first + slack);
    } catch (AssertionError e) {
      throw new AssertionError(e.getMessage() + "; now " + now.getAsLong(), e);
    }
  }
}

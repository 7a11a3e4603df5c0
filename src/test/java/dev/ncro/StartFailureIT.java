package dev.ncro;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.ncro.config.CacheConfig;
import dev.ncro.config.Config;
import dev.ncro.config.ListenAddress;
import dev.ncro.config.LoggingConfig;
import dev.ncro.config.MeshConfig;
import dev.ncro.config.ServerConfig;
import dev.ncro.config.TimeoutsConfig;
import dev.ncro.config.UpstreamConfig;
import dev.ncro.route.RouteStore;
import dev.ncro.support.Await;
import java.io.IOException;
import java.net.DatagramSocket;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.util.List;
import java.util.Locale;
import java.util.Set;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A start that fails late (the listen port or the mesh port taken) closes everything it had
 * opened: no ncro thread lives on and the route database is closed (SQLite removes the WAL file
 * when its last connection closes).
 */
class StartFailureIT {
  @TempDir
  Path dir;

  @Test
  void listenPortInUseClosesEverythingOpenedBefore() throws Exception {
    Set<Thread> before = ncroThreads();
    try (ServerSocket taken = new ServerSocket(0, 50, InetAddress.getLoopbackAddress())) {
      Path db = dir.resolve("routes.db");
      Config config = config(db, taken.getLocalPort(), "127.0.0.1:0");
      Exception e = assertThrows(Exception.class, () -> Ncro.start(config));
      assertTrue(
          e.getMessage().toLowerCase(Locale.ROOT).contains("address already in use"),
          e.getMessage());
      assertAllClosed(before, db);
    }
  }

  @Test
  void meshPortInUseClosesEverythingOpenedBefore() throws Exception {
    Set<Thread> before = ncroThreads();
    try (DatagramSocket taken =
        new DatagramSocket(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0))) {
      Path db = dir.resolve("routes.db");
      Config config = config(db, 0, "127.0.0.1:" + taken.getLocalPort());
      assertThrows(IOException.class, () -> Ncro.start(config));
      assertAllClosed(before, db);
    }
  }

  @Test
  void aStartThatSucceedsLeavesThreadsThatTheCheckSees() throws Exception {
    // Positive control: the thread check below can fail, since a running ncro is seen.
    Set<Thread> before = ncroThreads();
    Ncro ncro = Ncro.start(config(dir.resolve("routes.db"), 0, "127.0.0.1:0"));
    try {
      assertFalse(newThreads(before).isEmpty(), "a running ncro shows no ncro-* thread");
      assertTrue(
          Files.exists(dir.resolve("routes.db-wal")), "an open route database has no WAL file");
    } finally {
      ncro.stop();
    }
  }

  private static void assertAllClosed(Set<Thread> before, Path db) throws Exception {
    Await.until(
        "no ncro thread left from the failed start (" + newThreads(before) + ")",
        () -> newThreads(before).isEmpty());
    assertTrue(Files.exists(db), "the route store was never opened, so the test proves nothing");
    assertFalse(Files.exists(Path.of(db + "-wal")), "the route database is still open");
    try (RouteStore reopened = RouteStore.open(db, 100, 100, Clock.systemUTC())) {
      assertEquals(0, reopened.count());
    }
  }

  private static Set<Thread> newThreads(Set<Thread> before) {
    Set<Thread> now = ncroThreads();
    now.removeAll(before);
    return now;
  }

  private static Set<Thread> ncroThreads() {
    return Thread.getAllStackTraces().keySet().stream()
        .filter(t -> t.isAlive() && t.getName().startsWith("ncro-"))
        .collect(Collectors.toSet());
  }

  private static Config config(Path db, int listenPort, String meshBind) {
    return new Config(
        new ServerConfig(
            new ListenAddress("127.0.0.1", listenPort),
            Duration.ofSeconds(5),
            Duration.ofSeconds(5),
            30),
        List.of(new UpstreamConfig(URI.create("http://127.0.0.1:9"), 10, List.of())),
        new CacheConfig(
            db, 1000, Duration.ofHours(1), Duration.ofMinutes(1), 0.3, Duration.ofMinutes(10)),
        new TimeoutsConfig(Duration.ofSeconds(2), Duration.ofSeconds(2), Duration.ofSeconds(2)),
        new LoggingConfig("info", "text"),
        new MeshConfig(true, meshBind, List.of(), "", Duration.ofSeconds(30)));
  }
}

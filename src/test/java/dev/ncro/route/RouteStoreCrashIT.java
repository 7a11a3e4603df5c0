package dev.ncro.route;

import static org.assertj.core.api.Assertions.assertThat;

import dev.ncro.support.NcroProcess;
import dev.ncro.support.TestNarinfo;
import dev.ncro.support.TestUpstream;
import java.io.IOException;
import java.net.http.HttpClient;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.sqlite.SQLiteConfig;

/**
 * {@code kill -9} in the middle of load, then a restart on the same {@code db_path}: the file
 * passes {@code PRAGMA integrity_check}, every route that was committed before the kill is still
 * there, and the restarted ncro serves those paths from the database without asking the upstream.
 *
 * <p>"Committed" is observed, not guessed: while the load runs, this test reads the database
 * through its own read-only SQLite connection (WAL readers see committed transactions only), and
 * the last such snapshot is taken immediately before the SIGKILL. Routes written after the snapshot
 * may or may not survive; every route in it must.
 */
class RouteStoreCrashIT {
  private static final int HASHES = 20_000;
  private static final int CLIENTS = 32;
  private static final int COMMITTED_BEFORE_KILL = 300;

  @TempDir
  Path dir;

  @Test
  void killDashNineMidLoadLosesNoCommittedRouteAndServingResumes() throws Exception {
    try (TestUpstream up = TestUpstream.start()) {
      List<String> hashes = new ArrayList<>();
      for (int i = 0; i < HASHES; i++) {
        String h = TestNarinfo.hash(100_000 + i);
        hashes.add(h);
        up.putNarinfo(h, TestNarinfo.make(h, "nar/" + h + ".nar.xz", 1000 + i, null));
      }
      Path db = dir.resolve("state/routes.db");
      Path cfg = NcroProcess.writeConfig(dir, up.uri(), db);
      HttpClient http =
          HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build();

      // 1. Load: CLIENTS clients, each asking for narinfos nobody asked for before (a race and a
      //    route write each), until the process dies under them.
      Set<String> committed = new HashSet<>();
      List<Throwable> clientEnds = new CopyOnWriteArrayList<>();
      Set<String> answered = ConcurrentHashMap.newKeySet();
      try (NcroProcess first = NcroProcess.start(cfg)) {
        AtomicInteger next = new AtomicInteger();
        List<Thread> clients = new ArrayList<>();
        for (int c = 0; c < CLIENTS; c++) {
          clients.add(Thread.ofVirtual().start(() -> {
            try {
              for (int i = next.getAndIncrement(); i < HASHES; i = next.getAndIncrement()) {
                HttpResponse<byte[]> r = http.send(
                    first.narinfo(hashes.get(i)), HttpResponse.BodyHandlers.ofByteArray());
                if (r.statusCode() == 200) {
                  answered.add(hashes.get(i));
                }
              }
              clientEnds.add(new AssertionError("ran out of work before the kill"));
            } catch (IOException | InterruptedException e) {
              clientEnds.add(e);
            }
          }));
        }
        // 2. Watch what is committed, from outside the process.
        try (Connection reader = readOnly(db)) {
          long deadline = System.nanoTime() + Duration.ofSeconds(20).toNanos();
          while (committed.size() < COMMITTED_BEFORE_KILL && System.nanoTime() < deadline) {
            Thread.sleep(20);
            committed.addAll(hashesIn(reader));
          }
          assertThat(committed)
              .as("routes committed under load")
              .hasSizeGreaterThanOrEqualTo(COMMITTED_BEFORE_KILL);
          // 3. The last snapshot, then SIGKILL at once.
          committed.addAll(hashesIn(reader));
          first.kill();
        }
        for (Thread t : clients) {
          t.join(Duration.ofSeconds(20));
        }
      }
      assertThat(clientEnds)
          .as("every client was cut off by the kill, mid-load")
          .hasSize(CLIENTS)
          .allSatisfy(e -> assertThat(e).isInstanceOf(IOException.class));
      assertThat(answered).as("answers before the kill").isNotEmpty();

      // 4. The file as the kill left it (WAL and all): intact, with every committed route.
      Path wal = db.resolveSibling("routes.db-wal");
      assertThat(wal)
          .as("a WAL left behind by the kill, for the next open to recover")
          .exists();
      System.out.printf(
          "killed with %d routes committed, %d narinfos answered, WAL %d bytes%n",
          committed.size(), answered.size(), Files.size(wal));
      try (Connection c = readOnly(db)) {
        try (Statement st = c.createStatement();
            ResultSet rs = st.executeQuery("PRAGMA integrity_check")) {
          assertThat(rs.next()).isTrue();
          assertThat(rs.getString(1)).isEqualTo("ok");
        }
        Set<String> after = hashesIn(c);
        assertThat(after).as("committed before the kill, present after it").containsAll(committed);
      }

      // 5. A restart on the same file serves them from the database, with no upstream round trip.
      up.clearRequests();
      try (NcroProcess second = NcroProcess.start(cfg)) {
        for (String h : committed) {
          HttpResponse<byte[]> r =
              http.send(second.narinfo(h), HttpResponse.BodyHandlers.ofByteArray());
          assertThat(r.statusCode()).as(h).isEqualTo(200);
          assertThat(r.headers().firstValue("X-Ncro-Route")).as(h).hasValue("cache-hit");
          assertThat(new String(r.body(), StandardCharsets.UTF_8))
              .startsWith("StorePath: /nix/store/" + h);
        }
        assertThat(up.requests())
            .as("upstream requests after the restart")
            .noneSatisfy(req -> assertThat(req.path()).endsWith(".narinfo"));
        second.terminate();
        assertThat(second.log())
            .as("no warning about the database")
            .noneSatisfy(l -> assertThat(l).contains("moved aside"));
      }
    }
  }

  @Test
  void aCorruptFileIsMovedAsideAndServingStartsFresh_anotherAppsDatabaseStopsStartUp()
      throws Exception {
    try (TestUpstream up = TestUpstream.start()) {
      String h = TestNarinfo.hash(42);
      up.putNarinfo(h, TestNarinfo.make(h, "nar/" + h + ".nar.xz", 100, null));
      Path db = dir.resolve("routes.db");
      Path cfg = NcroProcess.writeConfig(dir, up.uri(), db);
      Files.writeString(db, "these bytes were never an SQLite database\n".repeat(100));
      HttpClient http =
          HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build();
      try (NcroProcess ncro = NcroProcess.start(cfg)) {
        HttpResponse<byte[]> r =
            http.send(ncro.narinfo(h), HttpResponse.BodyHandlers.ofByteArray());
        assertThat(r.statusCode()).isEqualTo(200);
        ncro.terminate();
        assertThat(ncro.log())
            .anySatisfy(l -> assertThat(l)
                .contains(
                    "WARN",
                    "moved aside",
                    "path=\"" + db + "\"",
                    "moved_to=\"" + db + ".corrupt-"));
      }
      try (var files = Files.list(dir)) {
        assertThat(files.map(p -> p.getFileName().toString()))
            .anySatisfy(n -> assertThat(n).startsWith("routes.db.corrupt-"))
            .contains("routes.db");
      }

      // Someone else's database at db_path: ncro stops with the path named, and leaves it alone.
      Path foreign = dir.resolve("app.db");
      try (Connection c = new SQLiteConfig().createConnection("jdbc:sqlite:" + foreign);
          Statement st = c.createStatement()) {
        st.execute("CREATE TABLE accounts (id INTEGER PRIMARY KEY)");
      }
      byte[] before = Files.readAllBytes(foreign);
      Files.writeString(cfg, Files.readString(cfg).replace(db.toString(), foreign.toString()));
      String java = ProcessHandle.current().info().command().orElse("java");
      Process p = new ProcessBuilder(
              java,
              "--enable-native-access=ALL-UNNAMED",
              "-cp",
              System.getProperty("java.class.path"),
              "dev.ncro.Main",
              "-config",
              cfg.toString())
          .redirectErrorStream(true)
          .start();
      String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
      assertThat(p.waitFor(30, TimeUnit.SECONDS)).isTrue();
      assertThat(p.exitValue()).isEqualTo(1);
      assertThat(out)
          .contains("ncro: cache.db_path: " + foreign + " is an SQLite database but not ncro's");
      assertThat(Files.readAllBytes(foreign)).isEqualTo(before);
    }
  }

  private static Connection readOnly(Path db) throws SQLException {
    SQLiteConfig config = new SQLiteConfig();
    config.setReadOnly(true);
    config.setBusyTimeout(5000);
    return config.createConnection("jdbc:sqlite:" + db);
  }

  private static Set<String> hashesIn(Connection c) throws SQLException {
    Set<String> out = new HashSet<>();
    try (Statement st = c.createStatement();
        ResultSet rs = st.executeQuery("SELECT hash FROM routes")) {
      while (rs.next()) {
        out.add(rs.getString(1));
      }
    }
    return out;
  }
}

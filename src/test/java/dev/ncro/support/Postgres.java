package dev.ncro.support;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

/**
 * A real PostgreSQL server (Debian package {@code postgresql}: {@code initdb}, {@code pg_ctl}) in a
 * temporary directory on a free loopback port, password authentication (scram-sha-256) only.
 * PostgreSQL refuses to run as root, so under root every command runs as the {@code postgres}
 * user through {@code runuser}. {@link #stop} and {@link #start} stop and restart the same server
 * (same port, same data) for outage tests.
 */
public final class Postgres implements AutoCloseable {
  public static final String SUPERUSER = "postgres";
  public static final String SUPERUSER_PASSWORD = "superuser-secret";

  private final Path dir;
  private final Path bin;
  private final int port;
  private final Thread stopAtExit;

  private Postgres(Path dir, Path bin, int port) {
    this.dir = dir;
    this.bin = bin;
    this.port = port;
    this.stopAtExit = new Thread(() -> {
      try {
        pgCtl("stop", "-m", "immediate");
      } catch (IOException | InterruptedException ignored) {
        // exiting anyway
      }
      deleteTree(dir);
    });
    Runtime.getRuntime().addShutdownHook(stopAtExit);
  }

  /** initdb in a new temporary directory, then starts the server. */
  public static Postgres start() throws IOException, InterruptedException {
    Path bin = binaries();
    Path dir = Files.createTempDirectory("ncro-postgres");
    Files.setPosixFilePermissions(dir, PosixFilePermissions.fromString("rwx------"));
    Files.writeString(dir.resolve("pwfile"), SUPERUSER_PASSWORD + "\n");
    chownToServerUser(dir);
    run(
        List.of(
            bin.resolve("initdb").toString(),
            "-D",
            dir.resolve("data").toString(),
            "-U",
            SUPERUSER,
            "--pwfile=" + dir.resolve("pwfile"),
            "--auth=scram-sha-256",
            "-E",
            "UTF8",
            "--no-sync",
            "--no-instructions"),
        dir.resolve("initdb.log"));
    IOException last = null;
    for (int attempt = 0; attempt < 5; attempt++) {
      Postgres pg = new Postgres(dir, bin, freePort());
      try {
        pg.restart();
        return pg;
      } catch (IOException e) {
        Runtime.getRuntime().removeShutdownHook(pg.stopAtExit);
        last = e;
      }
    }
    deleteTree(dir);
    throw last;
  }

  /** Starts the server again after {@link #stop} (same port, same data). */
  public void restart() throws IOException, InterruptedException {
    pgCtl(
        "start",
        "-w",
        "-t",
        "30",
        "-l",
        dir.resolve("server.log").toString(),
        "-o",
        "-p " + port + " -c listen_addresses=127.0.0.1 -k " + dir
            + " -c fsync=off -c synchronous_commit=off"
            + " -c full_page_writes=off -c max_connections=200");
  }

  /** Stops the server (fast shutdown: connected clients are disconnected) and waits for it. */
  public void stop() throws IOException, InterruptedException {
    pgCtl("stop", "-w", "-m", "fast");
  }

  public int port() {
    return port;
  }

  /** The libpq URI ncro's {@code cache.postgresql.url} takes, for {@code user} and {@code database}. */
  public String url(String user, String database) {
    return "postgresql://" + user + "@127.0.0.1:" + port + "/" + database + "?sslmode=disable";
  }

  /** A superuser connection to {@code database}. */
  public Connection connect(String database) throws SQLException {
    return DriverManager.getConnection(
        "jdbc:postgresql://127.0.0.1:" + port + "/" + database, SUPERUSER, SUPERUSER_PASSWORD);
  }

  /** Runs statements as superuser in {@code database}. */
  public void sql(String database, String... statements) throws SQLException {
    try (Connection c = connect(database);
        Statement st = c.createStatement()) {
      for (String s : statements) {
        st.execute(s);
      }
    }
  }

  /** A new login role owning a new, empty database of the same name: what a NixOS module sets up. */
  public void createOwnedDatabase(String name, String password) throws SQLException {
    sql(
        "postgres",
        "CREATE ROLE " + name + " LOGIN PASSWORD '" + password + "'",
        "CREATE DATABASE " + name + " OWNER " + name);
  }

  /** The server's log, for failure messages. */
  public String log() throws IOException {
    Path log = dir.resolve("server.log");
    return Files.exists(log) ? Files.readString(log) : "";
  }

  @Override
  public void close() throws IOException, InterruptedException {
    try {
      pgCtl("stop", "-w", "-m", "immediate");
    } catch (IOException ignored) {
      // already stopped
    }
    Runtime.getRuntime().removeShutdownHook(stopAtExit);
    deleteTree(dir);
  }

  private void pgCtl(String... args) throws IOException, InterruptedException {
    List<String> cmd = new ArrayList<>(
        List.of(bin.resolve("pg_ctl").toString(), "-D", dir.resolve("data").toString()));
    cmd.addAll(List.of(args));
    run(cmd, dir.resolve("pg_ctl.log"));
  }

  private static void run(List<String> command, Path log) throws IOException, InterruptedException {
    List<String> cmd = new ArrayList<>();
    if (isRoot()) {
      cmd.addAll(List.of("runuser", "-u", SUPERUSER, "--"));
    }
    cmd.addAll(command);
    Process p = new ProcessBuilder(cmd)
        .redirectErrorStream(true)
        .redirectOutput(log.toFile())
        .start();
    if (!p.waitFor(60, TimeUnit.SECONDS)) {
      p.destroyForcibly().waitFor();
      throw new IOException(String.join(" ", command) + ": no answer in 60 s");
    }
    if (p.exitValue() != 0) {
      throw new IOException(
          String.join(" ", command) + " exited " + p.exitValue() + ":\n" + Files.readString(log));
    }
  }

  /** The newest installed server's binaries (/usr/lib/postgresql/N/bin). */
  private static Path binaries() throws IOException {
    Path base = Path.of("/usr/lib/postgresql");
    if (!Files.isDirectory(base)) {
      throw new IllegalStateException(
          "PostgreSQL not found: install the Debian package postgresql");
    }
    try (Stream<Path> versions = Files.list(base)) {
      return versions
          .filter(v -> Files.isExecutable(v.resolve("bin/pg_ctl")))
          .max(Comparator.comparingInt(
              v -> Integer.parseInt(v.getFileName().toString().replaceAll("\\D", "0"))))
          .map(v -> v.resolve("bin"))
          .orElseThrow(() -> new IllegalStateException(
              "no pg_ctl under " + base + ": install the Debian package postgresql"));
    }
  }

  private static boolean isRoot() {
    return "root".equals(System.getProperty("user.name"));
  }

  private static void chownToServerUser(Path dir) throws IOException, InterruptedException {
    if (!isRoot()) {
      return;
    }
    Process p = new ProcessBuilder("chown", "-R", SUPERUSER + ":", dir.toString())
        .inheritIO()
        .start();
    if (p.waitFor() != 0) {
      throw new IOException(
          "chown " + dir + " to " + SUPERUSER + " failed (is the postgresql package installed?)");
    }
  }

  private static int freePort() throws IOException {
    try (ServerSocket s = new ServerSocket()) {
      s.bind(new InetSocketAddress("127.0.0.1", 0));
      return s.getLocalPort();
    }
  }

  /** Whether something accepts connections on the port (for tests that check the server is gone). */
  public boolean listening() {
    try (Socket s = new Socket()) {
      s.connect(new InetSocketAddress("127.0.0.1", port), 500);
      return true;
    } catch (IOException e) {
      return false;
    }
  }

  private static void deleteTree(Path root) {
    if (!Files.exists(root)) {
      return;
    }
    try (Stream<Path> s = Files.walk(root)) {
      s.sorted(Comparator.reverseOrder()).forEach(p -> {
        try {
          Files.deleteIfExists(p);
        } catch (IOException ignored) {
          // best effort
        }
      });
    } catch (IOException ignored) {
      // best effort
    }
  }
}

package dev.ncro.support;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * A real forward proxy on a loopback port: tinyproxy (Debian {@code tinyproxy}: HTTP, {@code
 * CONNECT}, Basic proxy credentials), Dante (Debian {@code dante-server}: SOCKS5) or microsocks
 * (Debian {@code microsocks}: SOCKS5 with a username and password, RFC 1929). Each makes
 * its outgoing connections from {@link #OUTGOING}, 127.0.0.2, so a cache that admits only that
 * address is reachable through the proxy and nowhere else: a request that arrived went through it.
 */
public final class ForwardProxy implements AutoCloseable {
  /** The address the proxy connects to upstreams from (loopback, but not 127.0.0.1). */
  public static final String OUTGOING = "127.0.0.2";

  private static final Path TINYPROXY = Path.of("/usr/bin/tinyproxy");
  private static final Path DANTED = Path.of("/usr/sbin/danted");
  private static final Path MICROSOCKS = Path.of("/usr/bin/microsocks");

  private final Process process;
  private final Path dir;
  private final int port;
  private final Thread killAtExit;

  private ForwardProxy(Process process, Path dir, int port) {
    this.process = process;
    this.dir = dir;
    this.port = port;
    this.killAtExit = new Thread(() -> {
      process.destroyForcibly();
      ChildProcesses.deleteTree(dir);
    });
    Runtime.getRuntime().addShutdownHook(killAtExit);
  }

  /** tinyproxy; with {@code user} non-null it demands those Basic credentials. */
  public static ForwardProxy http(String user, String password)
      throws IOException, InterruptedException {
    require(TINYPROXY, "tinyproxy");
    Path dir = Files.createTempDirectory("ncro-tinyproxy");
    int port = ChildProcesses.freeLoopbackPort();
    Files.writeString(
        dir.resolve("tinyproxy.conf"),
        "Port " + port + "\nListen 127.0.0.1\nBind " + OUTGOING + "\nTimeout 60\n"
            + "LogFile \"" + dir.resolve("proxy.log") + "\"\nLogLevel Connect\nMaxClients 200\n"
            + "DisableViaHeader Yes\n"
            + (user == null ? "" : "BasicAuth " + user + " " + password + "\n"));
    Process p = new ProcessBuilder(
            TINYPROXY.toString(), "-d", "-c", dir.resolve("tinyproxy.conf").toString())
        .redirectErrorStream(true)
        .redirectOutput(dir.resolve("stdout.log").toFile())
        .start();
    return started(p, dir, port);
  }

  /** Dante, SOCKS5 without authentication (its username method checks system accounts). */
  public static ForwardProxy socks5() throws IOException, InterruptedException {
    require(DANTED, "dante-server");
    Path dir = Files.createTempDirectory("ncro-danted");
    int port = ChildProcesses.freeLoopbackPort();
    boolean root = "root".equals(System.getProperty("user.name"));
    Files.writeString(
        dir.resolve("danted.conf"),
        "logoutput: " + dir.resolve("proxy.log") + "\n"
            + "internal: 127.0.0.1 port = " + port + "\nexternal: " + OUTGOING + "\n"
            + "socksmethod: none\nclientmethod: none\n"
            + (root ? "user.privileged: root\nuser.unprivileged: nobody\n" : "")
            + "client pass { from: 127.0.0.0/8 to: 0.0.0.0/0 log: connect }\n"
            + "socks pass { from: 127.0.0.0/8 to: 0.0.0.0/0 log: connect\n  command: connect }\n");
    Process p = new ProcessBuilder(
            DANTED.toString(),
            "-f",
            dir.resolve("danted.conf").toString(),
            "-N",
            "1",
            "-p",
            dir.resolve("danted.pid").toString())
        .redirectErrorStream(true)
        .redirectOutput(dir.resolve("stdout.log").toFile())
        .start();
    return started(p, dir, port);
  }

  /**
   * microsocks, SOCKS5 demanding {@code user} and {@code password} (Dante's username method
   * checks system accounts). It logs a line per tunnel it opened ("connected to HOST:PORT"), none
   * for a client it refused.
   */
  public static ForwardProxy socks5(String user, String password)
      throws IOException, InterruptedException {
    require(MICROSOCKS, "microsocks");
    Path dir = Files.createTempDirectory("ncro-microsocks");
    int port = ChildProcesses.freeLoopbackPort();
    Process p = new ProcessBuilder(
            MICROSOCKS.toString(),
            "-i",
            "127.0.0.1",
            "-p",
            String.valueOf(port),
            "-b",
            OUTGOING,
            "-u",
            user,
            "-P",
            password)
        .redirectErrorStream(true)
        .redirectOutput(dir.resolve("proxy.log").toFile())
        .start();
    return started(p, dir, port);
  }

  private static ForwardProxy started(Process p, Path dir, int port)
      throws IOException, InterruptedException {
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
    while (System.nanoTime() < deadline && p.isAlive()) {
      try (Socket s = new Socket()) {
        s.connect(new InetSocketAddress("127.0.0.1", port), 200);
        return new ForwardProxy(p, dir, port);
      } catch (IOException notYet) {
        Thread.sleep(20);
      }
    }
    p.destroyForcibly().waitFor();
    Path stdout = dir.resolve("stdout.log");
    String out = Files.readString(Files.exists(stdout) ? stdout : dir.resolve("proxy.log"));
    ChildProcesses.deleteTree(dir);
    throw new IOException("the proxy did not start on port " + port + ":\n" + out);
  }

  private static void require(Path binary, String pkg) {
    if (!Files.isExecutable(binary)) {
      throw new IllegalStateException(
          binary + " not found: install the Debian package " + pkg + " (bin/test does as root)");
    }
  }

  public int port() {
    return port;
  }

  /** The proxy's URL with {@code scheme} and optional {@code user:password@}. */
  public String url(String scheme, String userInfo) {
    return scheme + "://" + (userInfo == null ? "" : userInfo + "@") + "127.0.0.1:" + port;
  }

  /** The proxy's log so far (tinyproxy: one line per connection and per request; Dante and
   * microsocks: one per tunnel). */
  public List<String> log() throws IOException {
    Path log = dir.resolve("proxy.log");
    return Files.exists(log) ? Files.readAllLines(log) : List.of();
  }

  @Override
  public void close() {
    ChildProcesses.stop(process, killAtExit);
    ChildProcesses.deleteTree(dir);
  }
}

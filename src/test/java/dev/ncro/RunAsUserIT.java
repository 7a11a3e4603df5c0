package dev.ncro;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.ncro.support.ListeningSockets;
import dev.ncro.support.NixFixture;
import java.io.IOException;
import java.net.ConnectException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * The README's first command as a newcomer runs it: {@code bin/ncro} with no config, as an ordinary
 * user, on a fresh clone. It must build, start, keep its routes under the user's home, and answer
 * on localhost:8080, on loopback only.
 *
 * <p>When the suite runs as root, the newcomer is an unprivileged account made for this test
 * ({@value #USER}), and the clone is theirs. That user cannot read root's Maven repository
 * ({@code /root} is private) and the build must not depend on the network, so a copy of it goes
 * into the user's {@code ~/.m2}, where their Maven looks by default: bin/ncro runs exactly as it
 * does for anyone. The account's home is moved to this run's temporary directory. Run as a non-root user, the test is that user, with a fresh HOME and
 * {@code MAVEN_OPTS=-Dmaven.repo.local=} pointing at their own repository.
 */
class RunAsUserIT {
  private static final String USER = "ncro-user-test";
  private static final int PORT = 8080;
  private static final Duration BUILD_AND_START = Duration.ofMinutes(6);

  private Path base;
  private Process ncro;

  @AfterEach
  void cleanUp() throws Exception {
    if (ncro != null) {
      List<ProcessHandle> tree = new ArrayList<>(ncro.descendants().toList());
      tree.forEach(ProcessHandle::destroy);
      ncro.destroy();
      for (ProcessHandle p : tree) {
        p.onExit().get(15, TimeUnit.SECONDS);
      }
      ncro.waitFor(15, TimeUnit.SECONDS);
    }
    if (base != null) {
      try (Stream<Path> walk = Files.walk(base)) {
        walk.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
      }
    }
  }

  private static boolean root() {
    return System.getProperty("user.name").equals("root");
  }

  private static String run(String... cmd) throws IOException, InterruptedException {
    NixFixture.Result r = NixFixture.exec(List.of(cmd), System.getenv(), Duration.ofMinutes(5));
    assertThat(r.exitCode()).as("%s:\n%s", String.join(" ", cmd), r.output()).isZero();
    return r.stdout().strip();
  }

  @Test
  void binNcroOnAFreshCloneAsAnOrdinaryUserAnswersOnLocalhostOnly() throws Exception {
    for (InetAddress a : List.of(
        InetAddress.getByName("127.0.0.1"),
        InetAddress.getByName("::1"),
        InetAddress.getByName("0.0.0.0"))) {
      try (ServerSocket s = new ServerSocket()) {
        s.bind(new InetSocketAddress(a, PORT));
      } catch (IOException e) {
        throw new AssertionError(
            "port " + PORT + " on " + a.getHostAddress()
                + " is taken by another program: this test checks ncro's default port and needs it free",
            e);
      }
    }
    Path project = Path.of(System.getProperty("user.dir"));
    base = Files.createTempDirectory("ncro-as-user");
    Path home = Files.createDirectories(base.resolve("home"));
    Path clone = base.resolve("ncro");
    run("git", "clone", "--quiet", "--no-hardlinks", project.toString(), clone.toString());

    List<String> cmd = new ArrayList<>();
    Map<String, String> env = new HashMap<>();
    env.put("HOME", home.toString());
    env.put("PATH", "/usr/local/bin:/usr/bin:/bin");
    env.put("LANG", "C.UTF-8");
    Path m2 = Path.of(System.getProperty("user.home"), ".m2", "repository");
    if (root()) {
      if (NixFixture.exec(List.of("id", "-u", USER), System.getenv(), Duration.ofSeconds(10))
              .exitCode()
          != 0) {
        run("useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", USER);
      }
      // runuser sets HOME from the account, and the JVM reads user.home from it too: this run's
      // home.
      run("usermod", "--home", home.toString(), USER);
      run(
          "cp",
          "-a",
          m2.toString(),
          Files.createDirectories(home.resolve(".m2")).toString());
      run("chown", "-R", USER + ":", base.toString());
      env.put("USER", USER);
      cmd.addAll(List.of("runuser", "-u", USER, "--"));
    } else {
      env.put("MAVEN_OPTS", "-Dmaven.repo.local=" + m2);
    }
    cmd.add(clone.resolve("bin/ncro").toString());
    Path log = base.resolve("ncro.log");
    ProcessBuilder pb = new ProcessBuilder(cmd)
        .directory(clone.toFile())
        .redirectErrorStream(true)
        .redirectOutput(log.toFile());
    pb.environment().clear();
    pb.environment().putAll(env);
    ncro = pb.start();

    HttpClient http =
        HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(2)).build();
    String info =
        awaitCacheInfo(http, URI.create("http://127.0.0.1:" + PORT + "/nix-cache-info"), log);
    assertThat(info).startsWith("StoreDir: /nix/store\n");
    assertThat(http.send(
                HttpRequest.newBuilder(URI.create("http://[::1]:" + PORT + "/nix-cache-info"))
                    .build(),
                HttpResponse.BodyHandlers.ofString())
            .body())
        .isEqualTo(info);
    assertThat(http.send(
                HttpRequest.newBuilder(URI.create("http://localhost:" + PORT + "/nix-cache-info"))
                    .build(),
                HttpResponse.BodyHandlers.ofString())
            .body())
        .isEqualTo(info);

    assertThat(ListeningSockets.on(PORT))
        .as("sockets listening on port %d", PORT)
        .isNotEmpty()
        .allSatisfy(
            a -> assertThat(a.isLoopbackAddress()).as("%s is loopback", a).isTrue());
    Optional<InetAddress> lan = ListeningSockets.nonLoopbackAddress();
    if (lan.isPresent()) {
      try (Socket s = new Socket()) {
        assertThatThrownBy(() -> s.connect(new InetSocketAddress(lan.get(), PORT), 5000))
            .as("connecting through %s", lan.get())
            .isInstanceOf(ConnectException.class);
      }
    }

    Path state = home.resolve(".local/state/ncro");
    assertThat(state.resolve("routes.db")).exists();
    assertThat(PosixFilePermissions.toString(Files.getPosixFilePermissions(state)))
        .isEqualTo("rwx------");
    if (root()) {
      assertThat(Files.getOwner(state.resolve("routes.db")).getName()).isEqualTo(USER);
    }
  }

  /** Waits (bounded) for the build and start-up; fails with ncro's output if it exits first. */
  private String awaitCacheInfo(HttpClient http, URI uri, Path log) throws Exception {
    long deadline = System.nanoTime() + BUILD_AND_START.toNanos();
    while (System.nanoTime() < deadline) {
      if (!ncro.isAlive()) {
        throw new AssertionError(
            "bin/ncro exited with " + ncro.exitValue() + ":\n" + Files.readString(log));
      }
      try {
        HttpResponse<String> r = http.send(
            HttpRequest.newBuilder(uri).timeout(Duration.ofSeconds(5)).build(),
            HttpResponse.BodyHandlers.ofString());
        if (r.statusCode() == 200) {
          return r.body();
        }
      } catch (ConnectException notYet) {
        // still building or starting
      }
      Thread.sleep(250);
    }
    throw new AssertionError(
        "no answer on " + uri + " within " + BUILD_AND_START + ":\n" + Files.readString(log));
  }
}

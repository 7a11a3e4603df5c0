package dev.ncro.packaging;

import static org.junit.jupiter.api.Assumptions.abort;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.File;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

/**
 * Debian's real systemd booted as PID 1 of a fresh PID and mount namespace (private /run, /tmp
 * and /var/lib, the host's network), for the tests that run ncro's units under it. The caller
 * fills a stage directory: {@code units/} (copied to /run/systemd/system) and {@code payload/}
 * (copied to /run/ncro-test, where units find the config, the classpath and their logs). Closing
 * kills the namespace and deletes the stage. Skips the test where systemd cannot boot this way
 * (not root, no unshare/nsenter).
 */
final class SystemdNamespace implements AutoCloseable {
  private static final Path SYSTEMD = Path.of("/lib/systemd/systemd");

  private final Path stage;
  private final String nsenter;
  private Process boot;
  private long pid1;

  private SystemdNamespace(Path stage, String nsenter) {
    this.stage = stage;
    this.nsenter = nsenter;
  }

  /** A stage directory for {@link #boot}, after checking that systemd can boot here at all. */
  static SystemdNamespace prepare(String prefix) throws IOException {
    Optional<String> unshare = PackagingIT.tool("unshare");
    Optional<String> nsenter = PackagingIT.tool("nsenter");
    assumeTrue(Files.isExecutable(SYSTEMD), "no /lib/systemd/systemd (Debian package systemd)");
    assumeTrue(
        unshare.isPresent() && nsenter.isPresent(), "util-linux's unshare and nsenter are needed");
    assumeTrue(
        "root".equals(System.getProperty("user.name")),
        "needs root to boot systemd in a namespace");
    assumeTrue(
        !javaHome().startsWith("/root") && !javaHome().startsWith("/home"),
        "the JDK is under a home directory, hidden by ProtectHome=yes");
    Path stage = Files.createTempDirectory(prefix);
    Files.createDirectories(stage.resolve("units"));
    Files.createDirectories(stage.resolve("payload"));
    return new SystemdNamespace(stage, nsenter.get());
  }

  /** The test JDK's real home: the units run its java. */
  static Path javaHome() {
    try {
      return Path.of(System.getProperty("java.home")).toRealPath();
    } catch (IOException e) {
      throw new IllegalStateException(e);
    }
  }

  static String java() {
    return javaHome().resolve("bin/java").toString();
  }

  Path units() {
    return stage.resolve("units");
  }

  Path payload() {
    return stage.resolve("payload");
  }

  /** Copies the test JVM's classpath (ncro's classes and jars) into the payload; returns it as seen inside. */
  String stageClasspath() throws IOException {
    Path dir = Files.createDirectories(payload().resolve("cp"));
    List<String> entries = new ArrayList<>();
    int i = 0;
    for (String e : System.getProperty("java.class.path").split(File.pathSeparator)) {
      Path src = Path.of(e);
      if (!Files.exists(src)) {
        continue;
      }
      String name = i++ + (Files.isDirectory(src) ? "" : ".jar");
      copyTree(src, dir.resolve(name));
      entries.add("/run/ncro-test/cp/" + name);
    }
    return String.join(":", entries);
  }

  /**
   * A drop-in for the module's rendered ncro.service: the test's classes instead of the store's
   * jar, the config and log under /run/ncro-test, no boot ordering, no restart; {@code extra}
   * lines go into [Service].
   */
  static String moduleServiceDropIn(String classpath, String extra) {
    return """
        [Unit]
        DefaultDependencies=no
        [Service]
        ExecStart=
        ExecStart=%s -Xmx256m --enable-native-access=ALL-UNNAMED -cp %s dev.ncro.Main --config /run/ncro-test/config.yaml
        StandardOutput=append:/run/ncro-test/ncro.log
        StandardError=append:/run/ncro-test/ncro.log
        Restart=no
        %s""".formatted(java().replace("%", "%%"), classpath.replace("%", "%%"), extra);
  }

  /**
   * Boots systemd with {@code unit} as its default target. {@code sharedMounts}: new peer groups
   * private to the namespace, which systemd needs to mount a unit's credentials in the unit's own
   * namespace (it relies on propagation, as on a booted host).
   */
  SystemdNamespace boot(String unit, boolean sharedMounts) throws Exception {
    Path script = stage.resolve("boot.sh");
    Files.writeString(script, """
        set -e
        mount --make-rprivate /
        mount -t tmpfs -o mode=0755 tmpfs /run
        mkdir -p /run/systemd/system /run/ncro-test
        cp -R "$1/units/." /run/systemd/system/
        cp -R "$1/payload/." /run/ncro-test/
        mount -t tmpfs -o mode=1777 tmpfs /tmp
        mount -t tmpfs -o mode=0755 tmpfs /var/lib
        %s
        exec /lib/systemd/systemd --system --unit=%s --log-target=console --show-status=no
        """.formatted(sharedMounts ? "mount --make-rshared /" : "", unit));
    boot = new ProcessBuilder(
            PackagingIT.tool("unshare").orElseThrow(),
            "--fork",
            "--pid",
            "--mount",
            "--mount-proc",
            "/bin/sh",
            script.toString(),
            stage.toString())
        .redirectErrorStream(true)
        .redirectOutput(stage.resolve("systemd.out").toFile())
        .start();
    pid1 = awaitInit();
    return this;
  }

  /** The PID (in this namespace) of the namespace's PID 1, once it is systemd. */
  private long awaitInit() throws Exception {
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
    while (System.nanoTime() < deadline) {
      if (!boot.isAlive()) {
        abort("cannot boot systemd in a PID and mount namespace here (unshare exited "
            + boot.exitValue() + "): " + systemdOutput());
      }
      Optional<ProcessHandle> init = boot.toHandle().children().findFirst();
      if (init.isPresent()
          && init.get().info().command().map(c -> c.endsWith("/systemd")).orElse(false)) {
        return init.get().pid();
      }
      Thread.sleep(100);
    }
    abort("systemd did not start in the namespace: " + systemdOutput());
    return -1;
  }

  String systemdOutput() {
    try {
      return Files.readString(stage.resolve("systemd.out"));
    } catch (IOException e) {
      return "(no output: " + e + ")";
    }
  }

  /** Runs a command inside the namespace (its mounts and PIDs). */
  PackagingIT.Result exec(String... cmd) throws Exception {
    List<String> c = new ArrayList<>(List.of(nsenter, "-t", Long.toString(pid1), "-m", "-p"));
    c.addAll(List.of(cmd));
    return PackagingIT.run(c, Duration.ofSeconds(60));
  }

  PackagingIT.Result systemctl(String... args) throws Exception {
    List<String> c = new ArrayList<>(List.of("systemctl", "--no-pager"));
    c.addAll(List.of(args));
    return exec(c.toArray(String[]::new));
  }

  String show(String unit, String property) throws Exception {
    return systemctl("show", unit, "-p", property, "--value").output().strip();
  }

  /** /run/ncro-test/NAME.log, where the test drop-ins send a unit's output. */
  String log(String name) {
    try {
      return exec("cat", "/run/ncro-test/" + name + ".log").output();
    } catch (Exception e) {
      return "(no log: " + e + ")";
    }
  }

  /** Waits until the unit's ActiveState is one of {@code done}; aborts when systemd never answers. */
  String awaitState(String unit, Set<String> done) throws Exception {
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
    boolean answered = false;
    String state = "";
    while (System.nanoTime() < deadline) {
      PackagingIT.Result r = systemctl("show", unit, "-p", "ActiveState", "--value");
      if (r.exit() == 0) {
        answered = true;
        state = r.output().strip();
        if (done.contains(state)) {
          return state;
        }
      }
      Thread.sleep(200);
    }
    if (!answered) {
      abort("systemd in the namespace never answered systemctl: " + systemdOutput());
    }
    return state;
  }

  @Override
  public void close() throws Exception {
    if (boot != null) {
      // PID 1 first takes the namespace with it
      boot.toHandle().descendants().forEach(ProcessHandle::destroyForcibly);
      boot.destroyForcibly();
      boot.waitFor(30, TimeUnit.SECONDS);
    }
    deleteTree(stage);
  }

  private static void copyTree(Path src, Path dst) throws IOException {
    try (Stream<Path> s = Files.walk(src)) {
      for (Path p : s.toList()) {
        Path target = dst.resolve(src.relativize(p).toString());
        if (Files.isDirectory(p)) {
          Files.createDirectories(target);
        } else {
          Files.createDirectories(target.getParent());
          Files.copy(p, target);
        }
      }
    }
  }

  private static void deleteTree(Path dir) throws IOException {
    if (!Files.exists(dir)) {
      return;
    }
    try (Stream<Path> s = Files.walk(dir)) {
      for (Path p : s.sorted(Comparator.reverseOrder()).toList()) {
        Files.deleteIfExists(p);
      }
    }
  }
}

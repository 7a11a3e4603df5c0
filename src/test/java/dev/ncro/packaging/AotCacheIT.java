package dev.ncro.packaging;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.ncro.support.NcroProcess;
import dev.ncro.support.TestNarinfo;
import dev.ncro.support.TestUpstream;
import java.io.IOException;
import java.io.RandomAccessFile;
import java.net.http.HttpClient;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The JDK ahead-of-time cache as nix/package.nix and bin/ncro make and use it (issue 15): trained
 * by bin/lib/AotTraining.java on the installed jar with no network (a network namespace with only
 * loopback, as in the Nix build sandbox), then used by ncro; and a damaged or stale cache never
 * stops ncro from starting and answering, with the flags the launchers pass.
 */
class AotCacheIT {
  private static final Path ROOT = Path.of(System.getProperty("basedir", System.getProperty("user.dir"))).toAbsolutePath();
  /** nix/package.nix's jvmDefaults. */
  private static final List<String> JVM = List.of("-Xmx256m", "-XX:+UseSerialGC", "-XX:+ExitOnOutOfMemoryError");

  /** nix/package.nix's aotFlags, bin/ncro's archive options on JDK 25. */
  private static List<String> aotFlags(Path cache) {
    return List.of("-XX:AOTCache=" + cache, "-XX:+VerifySharedSpaces", "-Xlog:aot=off", "-Xlog:cds=off");
  }

  @Test
  void trainedOfflineUsedAndADamagedOrStaleCacheStillStarts(@TempDir Path dir) throws Exception {
    assumeTrue(Runtime.version().feature() >= 25, "AOT caches need JDK 25 (this JVM: " + Runtime.version() + ")");
    Path built = Path.of(System.getProperty("ncro.jar", ROOT.resolve("target/ncro.jar").toString()));
    assumeTrue(Files.isRegularFile(built), "the packaged jar " + built + " (mvn package)");
    // As installed in the Nix store: its own path, mtime 1.
    Path jar = Files.createDirectories(dir.resolve("share/ncro")).resolve("ncro.jar");
    Files.copy(built, jar);
    Files.setLastModifiedTime(jar, FileTime.fromMillis(1000));
    Path cache = dir.resolve("share/ncro/ncro.aot");

    List<String> train = new ArrayList<>();
    boolean offline = isRoot() && Files.isExecutable(Path.of("/usr/bin/unshare")) && ip() != null;
    if (offline) { // a new network namespace: loopback only, and nothing else
      train.addAll(List.of("/usr/bin/unshare", "--net", "/bin/sh", "-c", ip() + " link set lo up && exec \"$0\" \"$@\""));
    }
    train.addAll(List.of(java(), ROOT.resolve("bin/lib/AotTraining.java").toString(), jar.toString(), cache.toString()));
    train.addAll(JVM);
    Path trainLog = dir.resolve("training.log");
    Process t = new ProcessBuilder(train).redirectErrorStream(true).redirectOutput(trainLog.toFile()).start();
    assertThat(t.waitFor(10, TimeUnit.MINUTES)).as("training finished").isTrue();
    assertThat(t.exitValue()).as("training run (offline: %s):\n%s", offline, Files.readString(trainLog)).isZero();
    assertThat(Files.size(cache)).as("AOT cache written").isGreaterThan(1 << 20);

    // The cache is really used: -XX:AOTMode=on refuses to start without it.
    assertThat(usable(jar, cache)).as("the trained cache maps").isTrue();
    assertStartsAndAnswers(dir.resolve("fresh"), jar, cache);

    // Damaged in the middle (bit rot, a bad copy): VerifySharedSpaces' CRC refuses it, ncro starts without.
    Path damaged = dir.resolve("damaged.aot");
    Files.copy(cache, damaged);
    try (RandomAccessFile f = new RandomAccessFile(damaged.toFile(), "rw")) {
      byte[] noise = new byte[64 << 10];
      new Random(15).nextBytes(noise);
      f.seek(f.length() / 2);
      f.write(noise);
    }
    assertThat(usable(jar, damaged)).as("a damaged cache is detected").isFalse();
    assertStartsAndAnswers(dir.resolve("damaged"), jar, damaged);

    // Truncated (a write cut short).
    Path truncated = dir.resolve("truncated.aot");
    try (RandomAccessFile f = new RandomAccessFile(truncated.toFile(), "rw")) {
      f.write(Files.readAllBytes(cache), 0, 1 << 20);
    }
    assertThat(usable(jar, truncated)).isFalse();
    assertStartsAndAnswers(dir.resolve("truncated"), jar, truncated);

    // Stale: the jar changed after training (another build at the same path).
    Files.setLastModifiedTime(jar, FileTime.fromMillis(2000));
    assertThat(usable(jar, cache)).as("a cache for another jar is refused").isFalse();
    assertStartsAndAnswers(dir.resolve("stale"), jar, cache);
  }

  /** ncro from the jar with the launchers' flags and {@code cache}: it answers, a narinfo too. */
  private static void assertStartsAndAnswers(Path dir, Path jar, Path cache) throws Exception {
    Files.createDirectories(dir);
    try (TestUpstream up = TestUpstream.start()) {
      String hash = TestNarinfo.hash(1515);
      up.putNarinfo(hash, TestNarinfo.make(hash, "nar/x.nar", 64, null));
      Path cfg = NcroProcess.writeConfig(dir, up.uri(), dir.resolve("routes.db"));
      List<String> cmd = new ArrayList<>(List.of(java()));
      cmd.addAll(JVM);
      cmd.addAll(aotFlags(cache));
      cmd.addAll(List.of("-jar", jar.toString(), "--config", cfg.toString()));
      try (NcroProcess ncro = NcroProcess.command(cmd)) {
        HttpClient http = HttpClient.newHttpClient();
        HttpResponse<String> info = http.send(java.net.http.HttpRequest.newBuilder(ncro.uri("/nix-cache-info")).build(),
            HttpResponse.BodyHandlers.ofString());
        assertThat(info.statusCode()).as(String.join("\n", ncro.log())).isEqualTo(200);
        assertThat(http.send(ncro.narinfo(hash), HttpResponse.BodyHandlers.ofString()).statusCode())
            .as(String.join("\n", ncro.log())).isEqualTo(200);
        assertThat(ncro.log()).as("the JVM's archive messages stay out of ncro's log")
            .noneMatch(l -> l.contains("[aot]") || l.contains("[cds]"));
      }
    }
  }

  /** Whether the JVM can map {@code cache} for {@code jar}: AOTMode=on fails to start otherwise. */
  private static boolean usable(Path jar, Path cache) throws IOException, InterruptedException {
    List<String> cmd = new ArrayList<>(List.of(java()));
    cmd.addAll(JVM);
    cmd.addAll(List.of("-XX:AOTCache=" + cache, "-XX:+VerifySharedSpaces", "-XX:AOTMode=on", "-jar", jar.toString(), "--version"));
    Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
    String out = new String(p.getInputStream().readAllBytes());
    assertThat(p.waitFor(2, TimeUnit.MINUTES)).isTrue();
    assertThat(out).as("no crash").doesNotContain("hs_err_pid");
    return p.exitValue() == 0;
  }

  private static String java() {
    return Path.of(System.getProperty("java.home"), "bin", "java").toString();
  }

  private static boolean isRoot() {
    return "root".equals(System.getProperty("user.name"));
  }

  private static String ip() {
    for (String p : List.of("/usr/sbin/ip", "/sbin/ip", "/usr/bin/ip", "/bin/ip")) {
      if (Files.isExecutable(Path.of(p))) {
        return p;
      }
    }
    return null;
  }
}

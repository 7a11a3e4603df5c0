package dev.ncro.packaging;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.ncro.support.Await;
import dev.ncro.support.NcroProcess;
import dev.ncro.support.ProcessResources;
import dev.ncro.support.TestNarinfo;
import dev.ncro.support.TestUpstream;
import java.io.IOException;
import java.io.RandomAccessFile;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The class-data-sharing archive as bin/ncro, the NixOS module and contrib/ncro.service use it
 * (issue 15): written by the first start, mapped by the next, and a damaged, truncated or stale
 * archive never stops ncro from starting and answering with the flags the launchers pass. Without
 * {@code -XX:+VerifySharedSpaces} a damaged archive crashes the JVM at start (measured while writing
 * this test: noise at 2 and 8 MB into a 22 MB archive, {@code hs_err} both times).
 */
class StartupArchiveIT {
  private static final Path ROOT =
      Path.of(System.getProperty("basedir", System.getProperty("user.dir"))).toAbsolutePath();
  /** The NixOS module's default jvmOptions before the archive's. */
  private static final List<String> JVM = List.of(
      "-Xmx256m",
      "-XX:+UseSerialGC",
      "-XX:+ExitOnOutOfMemoryError",
      "-XX:TrimNativeHeapInterval=5000");

  /** The archive options of bin/ncro, the NixOS module and contrib/ncro.service. */
  private static List<String> archiveFlags(Path archive) {
    return List.of(
        "-XX:+AutoCreateSharedArchive",
        "-XX:SharedArchiveFile=" + archive,
        "-XX:+VerifySharedSpaces",
        "-Xlog:cds=off",
        "-Xlog:cds+dynamic=off");
  }

  @Test
  void writtenByTheFirstStartUsedByTheNextAndADamagedOrStaleOneStillStarts(@TempDir Path dir)
      throws Exception {
    Path built =
        Path.of(System.getProperty("ncro.jar", ROOT.resolve("target/ncro.jar").toString()));
    assumeTrue(Files.isRegularFile(built), "the packaged jar " + built + " (mvn package)");
    Path jar = dir.resolve("ncro.jar"); // as installed: its own path and mtime
    Files.copy(built, jar);
    Files.setLastModifiedTime(jar, FileTime.fromMillis(1000));
    Path archive = dir.resolve("ncro.jsa");

    assertStartsAndAnswers(dir.resolve("first"), jar, archive); // writes the archive at exit
    assertThat(archive).as("archive written by the first start").isRegularFile();
    assertThat(Files.size(archive)).isGreaterThan(1 << 20);
    assertThat(usable(jar, archive)).as("the archive maps (-Xshare:on)").isTrue();
    assertStartsAndAnswers(dir.resolve("second"), jar, archive);

    // Damaged in the middle (bit rot, a bad copy): the CRC check refuses it, ncro starts without.
    Path damaged = dir.resolve("damaged.jsa");
    Files.copy(archive, damaged);
    try (RandomAccessFile f = new RandomAccessFile(damaged.toFile(), "rw")) {
      byte[] noise = new byte[256 << 10];
      new Random(15).nextBytes(noise);
      f.seek(f.length() / 4);
      f.write(noise);
    }
    assertThat(usable(jar, damaged)).as("a damaged archive is detected").isFalse();
    assertStartsAndAnswers(dir.resolve("damaged"), jar, damaged);

    // Truncated (a write cut short).
    Path truncated = dir.resolve("truncated.jsa");
    try (RandomAccessFile f = new RandomAccessFile(truncated.toFile(), "rw")) {
      f.write(Files.readAllBytes(archive), 0, 1 << 20);
    }
    assertThat(usable(jar, truncated)).isFalse();
    assertStartsAndAnswers(dir.resolve("truncated"), jar, truncated);

    // Stale: the jar changed after the archive was written (another build at the same path).
    Files.setLastModifiedTime(jar, FileTime.fromMillis(2000));
    assertThat(usable(jar, archive)).as("an archive of another jar is refused").isFalse();
    assertStartsAndAnswers(dir.resolve("stale"), jar, archive);
  }

  /**
   * bin/ncro on JDK 25 or later (docs/decisions.md §10): its first start trains the JDK's AOT cache
   * in the background and runs with the AppCDS archive meanwhile; the next start maps the cache;
   * a damaged cache never stops ncro from starting and answering.
   */
  @Test
  void binNcroTrainsTheAotCacheUsesItAndStillStartsWithADamagedOne(@TempDir Path dir)
      throws Exception {
    assumeTrue(Runtime.version().feature() >= 25, "the JDK's AOT cache needs JDK 25");
    Path jar = ROOT.resolve("target/ncro.jar");
    assumeTrue(Files.isRegularFile(jar), "the packaged jar " + jar + " (mvn package)");
    Path cacheHome = dir.resolve("cache-home");
    long build = Files.getLastModifiedTime(jar).toMillis() / 1000;
    Path aot = cacheHome.resolve("ncro/ncro-" + build + ".aot");
    Path failed = cacheHome.resolve("ncro/ncro-" + build + ".aot.failed");

    String first = assertBinNcroStartsAndAnswers(dir.resolve("first"), cacheHome);
    assertThat(first).as("no cache yet: the AppCDS archive").contains("-XX:SharedArchiveFile=");
    Await.until(
        "the background training run writes the AOT cache",
        Duration.ofMinutes(4),
        () -> Files.isRegularFile(aot) || Files.exists(failed));
    assertThat(failed).as("training run failed: see its log").doesNotExist();
    assertThat(aotUsable(jar, aot)).as("the cache maps (-XX:AOTMode=on)").isTrue();
    // The first start also took the native libraries out of the jar, once, for the next starts.
    Path natives = cacheHome.resolve("ncro/ncro-" + build + ".native");
    Await.until("the native libraries are extracted", () -> Files.isDirectory(natives));
    assertThat(first).as("loaded the usual way meanwhile").doesNotContain(natives.toString());
    String second = assertBinNcroStartsAndAnswers(dir.resolve("second"), cacheHome);
    assertThat(second).contains("-XX:AOTCache=" + aot);
    assertThat(second)
        .as("Netty's epoll transport and SQLite's driver load from the extracted copies")
        .contains(natives
            .resolve("libnetty_transport_native_epoll_"
                + (System.getProperty("os.arch").equals("aarch64") ? "aarch_64" : "x86_64") + ".so")
            .toString())
        .contains(natives.resolve("libsqlitejdbc.so").toString());
    // Netty with sun.misc.Unsafe, as on JDK 21 (bin/lib/jdk.sh): in the training run too, so the
    // cache holds the classes that start-up then loads.
    assertThat(List.of(first, second))
        .allSatisfy(c -> assertThat(c).contains("--sun-misc-unsafe-memory-access=allow"));

    try (RandomAccessFile f = new RandomAccessFile(aot.toFile(), "rw")) {
      byte[] noise = new byte[256 << 10];
      new Random(25).nextBytes(noise);
      f.seek(f.length() / 3);
      f.write(noise);
    }
    assertThat(aotUsable(jar, aot)).as("a damaged cache is detected").isFalse();
    assertThat(assertBinNcroStartsAndAnswers(dir.resolve("damaged"), cacheHome))
        .contains("-XX:AOTCache=" + aot);
  }

  /** bin/ncro with its own cache directory: answers, a narinfo too; returns its JVM's command line. */
  private static String assertBinNcroStartsAndAnswers(Path dir, Path cacheHome) throws Exception {
    return assertAnswers(
        dir,
        List.of(
            "env",
            "XDG_CACHE_HOME=" + cacheHome,
            "JAVA_HOME=" + System.getProperty("java.home"),
            ROOT.resolve("bin/ncro").toString()));
  }

  /** Whether the JVM maps the AOT cache for {@code jar}: with -XX:AOTMode=on it refuses otherwise. */
  private static boolean aotUsable(Path jar, Path aot) throws IOException, InterruptedException {
    return startsWith(jar, "-XX:AOTCache=" + aot, "-XX:AOTMode=on");
  }

  /** ncro from the jar with the launchers' flags: it answers, a narinfo too; then SIGTERM. */
  private static void assertStartsAndAnswers(Path dir, Path jar, Path archive) throws Exception {
    List<String> cmd = new ArrayList<>(List.of(java()));
    cmd.addAll(JVM);
    cmd.addAll(archiveFlags(archive));
    cmd.addAll(List.of("-jar", jar.toString()));
    assertAnswers(dir, cmd);
  }

  /**
   * {@code command --config <a config of one upstream>}: answers {@code /nix-cache-info} and a
   * narinfo; then SIGTERM, and the JVM may write an archive at exit. Returns the command line of
   * the process (the JVM's, through launchers that exec) and the files of the native libraries it
   * mapped. No archive message in ncro's log.
   */
  private static String assertAnswers(Path dir, List<String> command) throws Exception {
    Files.createDirectories(dir);
    try (TestUpstream up = TestUpstream.start()) {
      String hash = TestNarinfo.hash(1515);
      up.putNarinfo(hash, TestNarinfo.make(hash, "nar/x.nar", 64, null));
      Path cfg = NcroProcess.writeConfig(dir, up.uri(), dir.resolve("routes.db"));
      List<String> cmd = new ArrayList<>(command);
      cmd.addAll(List.of("--config", cfg.toString()));
      try (NcroProcess ncro = NcroProcess.command(cmd)) {
        HttpClient http = HttpClient.newHttpClient();
        HttpResponse<String> info = http.send(
            HttpRequest.newBuilder(ncro.uri("/nix-cache-info")).build(),
            HttpResponse.BodyHandlers.ofString());
        assertThat(info.statusCode()).as(String.join("\n", ncro.log())).isEqualTo(200);
        assertThat(http.send(ncro.narinfo(hash), HttpResponse.BodyHandlers.ofString())
                .statusCode())
            .as(String.join("\n", ncro.log()))
            .isEqualTo(200);
        String cmdline =
            Files.readString(Path.of("/proc/" + ncro.pid() + "/cmdline")).replace('\0', ' ')
                + "\nnative libraries mapped: "
                + String.join(" ", ProcessResources.sharedLibraries(ncro.pid()));
        ncro.terminate(
            Duration.ofMinutes(3)); // the JVM writes a missing or unusable archive at exit
        assertThat(ncro.log())
            .as("the JVM's archive messages stay out of ncro's log")
            .noneMatch(l -> l.contains("[cds") || l.contains("[aot") || l.contains("hs_err"));
        return cmdline;
      }
    }
  }

  /** Whether the JVM maps {@code archive} for {@code jar}: with -Xshare:on it refuses to start otherwise. */
  private static boolean usable(Path jar, Path archive) throws IOException, InterruptedException {
    return startsWith(jar, "-XX:SharedArchiveFile=" + archive, "-Xshare:on");
  }

  /** {@code java <JVM> <archive> -XX:+VerifySharedSpaces <required> -jar jar --version}: exit 0, never a crash. */
  private static boolean startsWith(Path jar, String archive, String required)
      throws IOException, InterruptedException {
    List<String> cmd = new ArrayList<>(List.of(java()));
    cmd.addAll(JVM);
    cmd.addAll(
        List.of(archive, "-XX:+VerifySharedSpaces", required, "-jar", jar.toString(), "--version"));
    Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
    String out = new String(p.getInputStream().readAllBytes());
    assertThat(p.waitFor(2, TimeUnit.MINUTES)).isTrue();
    assertThat(out).as("no crash").doesNotContain("hs_err_pid");
    return p.exitValue() == 0;
  }

  private static String java() {
    return Path.of(System.getProperty("java.home"), "bin", "java").toString();
  }
}

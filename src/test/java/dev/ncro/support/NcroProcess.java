package dev.ncro.support;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.UncheckedIOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * ncro as a real child JVM on the test class path (signals, exit codes and crashes are only real
 * in a separate process), with its log collected and its port read from the start-up line.
 */
public final class NcroProcess implements AutoCloseable {
  private static final Pattern LISTENING =
      Pattern.compile("ncro listening .*address=\"?[^ \"]*:(\\d+)");
  private final Process process;
  private final List<String> log = new CopyOnWriteArrayList<>();
  private final int port;

  private NcroProcess(Process process) throws InterruptedException {
    this.process = process;
    LinkedBlockingQueue<String> lines = new LinkedBlockingQueue<>();
    Thread.ofVirtual()
        .start(() -> new BufferedReader(
                new InputStreamReader(process.getInputStream(), StandardCharsets.UTF_8))
            .lines()
            .forEach(l -> {
              log.add(l);
              lines.add(l);
            }));
    this.port = awaitPort(lines);
  }

  public static NcroProcess start(Path cfg) throws IOException, InterruptedException {
    return start(List.of(), cfg);
  }

  /** As {@link #start(Path)}, run through {@code wrapper} (e.g. {@code unshare -n ...}), which must exec its arguments. */
  public static NcroProcess start(List<String> wrapper, Path cfg)
      throws IOException, InterruptedException {
    String java = ProcessHandle.current().info().command().orElse("java");
    List<String> cmd = new ArrayList<>(wrapper);
    cmd.addAll(List.of(
        java,
        "-Xmx256m",
        "--enable-native-access=ALL-UNNAMED",
        // as in the test JVM (paranoid, from the pom): a leak report fails close()
        "-Dio.netty.leakDetection.level="
            + System.getProperty("io.netty.leakDetection.level", "simple"),
        "-cp",
        System.getProperty("java.class.path"),
        "dev.ncro.Main",
        "-config",
        cfg.toString()));
    Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
    try {
      return new NcroProcess(p);
    } catch (RuntimeException | Error | InterruptedException e) {
      p.destroyForcibly();
      throw e;
    }
  }

  /** ncro started by {@code command} as given (e.g. {@code java <flags> -jar ncro.jar --config ...}). */
  public static NcroProcess command(List<String> command) throws IOException, InterruptedException {
    Process p = new ProcessBuilder(command).redirectErrorStream(true).start();
    try {
      return new NcroProcess(p);
    } catch (RuntimeException | Error | InterruptedException e) {
      p.destroyForcibly();
      throw e;
    }
  }

  /** A minimal config in {@code dir}: loopback on a free port, one upstream, text logs. */
  public static Path writeConfig(Path dir, URI upstream, Path db) throws IOException {
    Path cfg = dir.resolve("ncro.yaml");
    Files.writeString(cfg, """
        server:
          listen: "127.0.0.1:0"
        upstreams:
          - url: "%s"
        cache:
          db_path: "%s"
        logging:
          format: text
        """.formatted(upstream, db));
    return cfg;
  }

  public int port() {
    return port;
  }

  /** The child's process id (the wrapper's, when started through one that execs). */
  public long pid() {
    return process.pid();
  }

  public URI uri(String path) {
    return URI.create("http://127.0.0.1:" + port + path);
  }

  /** The body of a GET of {@code path} as text, on a connection of its own (closed before this returns). */
  public String text(String path) {
    try (HttpClient c = HttpClient.newHttpClient()) {
      return c.send(
              HttpRequest.newBuilder(uri(path)).timeout(Duration.ofSeconds(20)).build(),
              HttpResponse.BodyHandlers.ofString())
          .body();
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException("interrupted", e);
    }
  }

  public HttpRequest narinfo(String hash) {
    return HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + "/" + hash + ".narinfo"))
        .timeout(Duration.ofSeconds(20))
        .build();
  }

  /** SIGKILL: no shutdown hook, no checkpoint, no close. */
  public void kill() throws InterruptedException {
    process.destroyForcibly();
    assertThat(process.waitFor(10, TimeUnit.SECONDS)).isTrue();
  }

  /** SIGTERM, and the orderly stop it starts (our end of its output stays open: the log is read to the end). */
  public void terminate() throws InterruptedException {
    terminate(Duration.ofSeconds(15));
  }

  /** As {@link #terminate()}, waiting up to {@code timeout} (e.g. for the JVM to write an archive at exit). */
  public void terminate(Duration timeout) throws InterruptedException {
    process.toHandle().destroy();
    assertThat(process.waitFor(timeout.toMillis(), TimeUnit.MILLISECONDS))
        .as("stopped after SIGTERM")
        .isTrue();
  }

  public List<String> log() {
    return log;
  }

  private int awaitPort(LinkedBlockingQueue<String> lines) throws InterruptedException {
    long deadline = System.nanoTime() + Duration.ofSeconds(30).toNanos();
    while (System.nanoTime() < deadline) {
      String l = lines.poll(1, TimeUnit.SECONDS);
      if (l != null) {
        Matcher m = LISTENING.matcher(l);
        if (m.find()) {
          return Integer.parseInt(m.group(1));
        }
      } else if (!process.isAlive()) {
        break;
      }
    }
    throw new AssertionError(
        "ncro did not report its port; its output:\n" + String.join("\n", log));
  }

  /** Stops the process; fails when its log holds a Netty leak report ({@code LEAK: ...}). */
  @Override
  public void close() throws InterruptedException {
    process.destroyForcibly();
    process.waitFor(10, TimeUnit.SECONDS);
    if (log.stream().anyMatch(l -> l.contains("LEAK:"))) {
      throw new AssertionError(
          "Netty reported leaks in the ncro process:\n" + String.join("\n", log));
    }
  }
}

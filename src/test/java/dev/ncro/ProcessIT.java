package dev.ncro;

import static org.assertj.core.api.Assertions.assertThat;

import dev.ncro.support.TestNarinfo;
import dev.ncro.support.TestUpstream;
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** ncro as a real process: it serves, and SIGTERM lets the in-flight response finish and closes the DB. */
class ProcessIT {
  @TempDir Path dir;

  @Test
  void sigtermFinishesInFlightWorkAndClosesTheDatabase() throws Exception {
    try (TestUpstream up = TestUpstream.start()) {
      String h = TestNarinfo.hash(70);
      byte[] body = TestNarinfo.make(h, "nar/p.nar", 10, null);
      up.putNarinfo(h, body);
      Path db = dir.resolve("routes.db");
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
          """.formatted(up.uri(), db));
      String java = ProcessHandle.current().info().command().orElse("java");
      Process p = new ProcessBuilder(java, "-cp", System.getProperty("java.class.path"), "dev.ncro.Main", "-config", cfg.toString())
          .redirectErrorStream(true).start();
      LinkedBlockingQueue<String> lines = new LinkedBlockingQueue<>();
      List<String> log = new java.util.concurrent.CopyOnWriteArrayList<>();
      Thread reader = Thread.ofVirtual().start(() -> new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8))
          .lines().forEach(l -> {
            lines.add(l);
            log.add(l);
          }));
      try {
        int port = awaitPort(lines);
        HttpClient http = HttpClient.newHttpClient();
        URI uri = URI.create("http://127.0.0.1:" + port + "/" + h + ".narinfo");
        assertThat(http.send(HttpRequest.newBuilder(uri).build(), HttpResponse.BodyHandlers.ofByteArray()).body()).isEqualTo(body);

        String slow = TestNarinfo.hash(71);
        up.putNarinfo(slow, TestNarinfo.make(slow, "nar/q.nar", 10, null));
        up.setLatency(Duration.ofMillis(1500));
        CompletableFuture<HttpResponse<byte[]>> inFlight = http.sendAsync(
            HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + "/" + slow + ".narinfo")).build(),
            HttpResponse.BodyHandlers.ofByteArray());
        Thread.sleep(300);
        p.toHandle().destroy(); // SIGTERM, leaving our end of its output open
        assertThat(inFlight.get(10, TimeUnit.SECONDS).statusCode()).as("in-flight request finished").isEqualTo(200);
        assertThat(p.waitFor(10, TimeUnit.SECONDS)).as("exited within the grace period").isTrue();
      } finally {
        p.destroyForcibly();
      }
      reader.join(5000);
      assertThat(log).anySatisfy(l -> assertThat(l).contains("ncro stopped"));
      assertThat(dir.resolve("routes.db-wal")).as("WAL checkpointed and removed on close").doesNotExist();
    }
  }

  private static int awaitPort(LinkedBlockingQueue<String> lines) throws InterruptedException {
    Pattern listening = Pattern.compile("ncro listening .*address=\"?[^ \"]*:(\\d+)");
    long deadline = System.nanoTime() + Duration.ofSeconds(30).toNanos();
    while (System.nanoTime() < deadline) {
      String l = lines.poll(1, TimeUnit.SECONDS);
      if (l != null) {
        Matcher m = listening.matcher(l);
        if (m.find()) {
          return Integer.parseInt(m.group(1));
        }
      }
    }
    throw new AssertionError("ncro did not report its port");
  }
}

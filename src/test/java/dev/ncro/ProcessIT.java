package dev.ncro;

import static org.assertj.core.api.Assertions.assertThat;

import dev.ncro.support.NcroProcess;
import dev.ncro.support.TestNarinfo;
import dev.ncro.support.TestUpstream;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** ncro as a real process: it serves, and SIGTERM lets the in-flight response finish and closes the DB. */
class ProcessIT {
  @TempDir
  Path dir;

  @Test
  void sigtermFinishesInFlightWorkAndClosesTheDatabase() throws Exception {
    try (TestUpstream up = TestUpstream.start()) {
      String h = TestNarinfo.hash(70);
      byte[] body = TestNarinfo.make(h, "nar/p.nar", 10, null);
      up.putNarinfo(h, body);
      Path cfg = NcroProcess.writeConfig(dir, up.uri(), dir.resolve("routes.db"));
      try (NcroProcess ncro = NcroProcess.start(cfg)) {
        HttpClient http = HttpClient.newHttpClient();
        assertThat(http.send(ncro.narinfo(h), HttpResponse.BodyHandlers.ofByteArray())
                .body())
            .isEqualTo(body);

        String slow = TestNarinfo.hash(71);
        up.putNarinfo(slow, TestNarinfo.make(slow, "nar/q.nar", 10, null));
        up.setLatency(Duration.ofMillis(1500));
        CompletableFuture<HttpResponse<byte[]>> inFlight = http.sendAsync(
            HttpRequest.newBuilder(ncro.uri("/" + slow + ".narinfo")).build(),
            HttpResponse.BodyHandlers.ofByteArray());
        Thread.sleep(300);
        ncro.terminate(); // SIGTERM
        assertThat(inFlight.get(10, TimeUnit.SECONDS).statusCode())
            .as("in-flight request finished")
            .isEqualTo(200);
        Thread.sleep(200); // the last log lines
        assertThat(ncro.log()).anySatisfy(l -> assertThat(l).contains("ncro stopped"));
      }
      assertThat(dir.resolve("routes.db-wal"))
          .as("WAL checkpointed and removed on close")
          .doesNotExist();
    }
  }
}

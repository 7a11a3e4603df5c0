package dev.ncro.e2e;

import static org.assertj.core.api.Assertions.assertThat;

import dev.ncro.support.DelayRelay;
import dev.ncro.support.Nginx;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Arrays;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The test tools the end-to-end tests rely on: nginx serves, the relay delays and keeps bytes intact. */
class DelayRelayE2E {
  private static final Duration RTT = Duration.ofMillis(80);

  @TempDir
  Path dir;

  @Test
  void aRequestCostsOneRoundTripAndTwoOnANewConnection() throws Exception {
    Files.writeString(dir.resolve("nix-cache-info"), "StoreDir: /nix/store\n");
    try (Nginx nginx = Nginx.serve(dir);
        DelayRelay relay = DelayRelay.start(nginx.address(), RTT)) {
      HttpClient http =
          HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build();
      HttpRequest get =
          HttpRequest.newBuilder(URI.create(relay.uri() + "/nix-cache-info")).build();

      long t0 = System.nanoTime();
      HttpResponse<String> first = http.send(get, HttpResponse.BodyHandlers.ofString());
      long firstMs = (System.nanoTime() - t0) / 1_000_000;
      t0 = System.nanoTime();
      HttpResponse<String> second = http.send(get, HttpResponse.BodyHandlers.ofString());
      long secondMs = (System.nanoTime() - t0) / 1_000_000;

      assertThat(first.body()).isEqualTo("StoreDir: /nix/store\n");
      assertThat(second.statusCode()).isEqualTo(200);
      assertThat(firstMs)
          .as("new connection: handshake + request")
          .isGreaterThanOrEqualTo(2 * RTT.toMillis());
      assertThat(secondMs)
          .as("kept-alive connection: one round trip")
          .isGreaterThanOrEqualTo(RTT.toMillis());
      assertThat(nginx.accessLog()).hasSize(2);
    }
  }

  @Test
  void largeBodiesAndRangesArriveIntact() throws Exception {
    byte[] blob = new byte[8 << 20];
    new Random(7).nextBytes(blob);
    Files.createDirectories(dir.resolve("nar"));
    Files.write(dir.resolve("nar/blob.nar"), blob);
    try (Nginx nginx = Nginx.serve(dir);
        DelayRelay relay = DelayRelay.start(nginx.address(), Duration.ofMillis(10))) {
      HttpClient http =
          HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build();
      URI uri = URI.create(relay.uri() + "/nar/blob.nar");

      HttpResponse<byte[]> whole =
          http.send(HttpRequest.newBuilder(uri).build(), HttpResponse.BodyHandlers.ofByteArray());
      HttpResponse<byte[]> tail = http.send(
          HttpRequest.newBuilder(uri).header("Range", "bytes=1000000-").build(),
          HttpResponse.BodyHandlers.ofByteArray());

      assertThat(whole.statusCode()).isEqualTo(200);
      assertThat(whole.body()).isEqualTo(blob);
      assertThat(tail.statusCode()).isEqualTo(206);
      assertThat(tail.body()).isEqualTo(Arrays.copyOfRange(blob, 1_000_000, blob.length));
    }
  }
}

package dev.ncro.it;

import static org.assertj.core.api.Assertions.assertThat;

import dev.ncro.support.NcroHarness;
import dev.ncro.support.TestUpstream;
import java.io.ByteArrayOutputStream;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** Malformed requests on a raw socket get a 4xx, never reach an upstream, and ncro keeps serving. */
class MalformedRequestIT {
  @TempDir static Path dir;
  static TestUpstream upstream;
  static NcroHarness ncro;

  @BeforeAll
  static void start() throws Exception {
    upstream = TestUpstream.start();
    ncro = NcroHarness.start(NcroHarness.config(dir.resolve("r.db"), NcroHarness.upstreams(List.of(upstream.uri()), null)));
  }

  @AfterAll
  static void stop() throws Exception {
    ncro.close();
    upstream.close();
  }

  static String exchange(String raw) throws Exception {
    try (Socket s = new Socket("127.0.0.1", ncro.ncro().address().getPort())) {
      s.setSoTimeout(5000);
      OutputStream out = s.getOutputStream();
      out.write(raw.getBytes(StandardCharsets.ISO_8859_1));
      out.flush();
      InputStream in = s.getInputStream();
      ByteArrayOutputStream got = new ByteArrayOutputStream();
      byte[] buf = new byte[4096];
      int n;
      while ((n = in.read(buf)) > 0) {
        got.write(buf, 0, n);
        if (got.toString(StandardCharsets.ISO_8859_1).contains("\r\n\r\n")) {
          break;
        }
      }
      return got.toString(StandardCharsets.ISO_8859_1);
    }
  }

  @ParameterizedTest
  @ValueSource(strings = {
      "GET /../etc/passwd HTTP/1.1\r\nHost: x\r\n\r\n",
      "GET /nar/%2e%2e/x HTTP/1.1\r\nHost: x\r\n\r\n",
      "GET /nar/a%2fb HTTP/1.1\r\nHost: x\r\n\r\n",
      "GET http://127.0.0.1/nix-cache-info HTTP/1.1\r\nHost: x\r\n\r\n",
      "CONNECT 127.0.0.1:80 HTTP/1.1\r\nHost: x\r\n\r\n",
      "DELETE /nar/x.nar HTTP/1.1\r\nHost: x\r\n\r\n",
      "GET /eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee.narinfo HTTP/1.1\r\nHost: x\r\n\r\n",
      "GET /abc.narinfo HTTP/1.1\r\nHost: x\r\n\r\n",
      "GET /nar/x.nar HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
      "GET /nar/x.nar HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc",
      "GARBAGE\r\n\r\n",
  })
  void rejectedWith4xxAndNeverForwarded(String raw) throws Exception {
    upstream.clearRequests();
    String reply = exchange(raw);
    assertThat(reply).matches("(?s)HTTP/1\\.1 4\\d\\d .*");
    assertThat(upstream.requests()).filteredOn(r -> !r.path().equals("/nix-cache-info")).isEmpty();
    assertThat(exchange("GET /nix-cache-info HTTP/1.1\r\nHost: x\r\n\r\n")).startsWith("HTTP/1.1 200");
  }

  @Test
  void overlongRequestLineAndHeaderFloods() throws Exception {
    upstream.clearRequests();
    assertThat(exchange("GET /nar/" + "a".repeat(5000) + " HTTP/1.1\r\nHost: x\r\n\r\n")).matches("(?s)HTTP/1\\.1 4\\d\\d .*");
    StringBuilder flood = new StringBuilder("GET /nix-cache-info HTTP/1.1\r\nHost: x\r\n");
    for (int i = 0; i < 2000; i++) {
      flood.append("X-Flood-").append(i).append(": ").append("v".repeat(20)).append("\r\n");
    }
    assertThat(exchange(flood.append("\r\n").toString())).matches("(?s)HTTP/1\\.1 4\\d\\d .*");
    assertThat(upstream.requests()).filteredOn(r -> !r.path().equals("/nix-cache-info")).isEmpty();
    assertThat(exchange("GET /health HTTP/1.1\r\nHost: x\r\n\r\n")).startsWith("HTTP/1.1 200");
  }
}

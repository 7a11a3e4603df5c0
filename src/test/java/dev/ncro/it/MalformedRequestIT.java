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
  @TempDir
  static Path dir;

  static TestUpstream upstream;
  static NcroHarness ncro;

  @BeforeAll
  static void start() throws Exception {
    upstream = TestUpstream.start();
    ncro = NcroHarness.start(NcroHarness.config(
        dir.resolve("r.db"), NcroHarness.upstreams(List.of(upstream.uri()), null)));
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
  @ValueSource(
      strings = {
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
        // the cache file prefixes, which accept ':', '!' and escapes, still refuse everything else
        "GET /log/..%2f..%2fetc%2fpasswd HTTP/1.1\r\nHost: x\r\n\r\n",
        "GET /log/%2e%2e HTTP/1.1\r\nHost: x\r\n\r\n",
        "GET /log/../nix-cache-info HTTP/1.1\r\nHost: x\r\n\r\n",
        "GET /log/0123456789abcdfghijklmnpqrsvwxyz-a%00.drv HTTP/1.1\r\nHost: x\r\n\r\n",
        "GET /log/0123456789abcdfghijklmnpqrsvwxyz-a%0d%0aX:%20y.drv HTTP/1.1\r\nHost: x\r\n\r\n",
        "GET /log/0123456789abcdfghijklmnpqrsvwxyz-a\u0001.drv HTTP/1.1\r\nHost: x\r\n\r\n",
        "GET /log/0123456789abcdfghijklmnpqrsvwxyz-a%252e.drv HTTP/1.1\r\nHost: x\r\n\r\n",
        "GET http://127.0.0.1/log/0123456789abcdfghijklmnpqrsvwxyz-a.drv HTTP/1.1\r\nHost: x\r\n\r\n",
        "GET //evil/realisations/sha256:aa!out.doi HTTP/1.1\r\nHost: x\r\n\r\n",
        "GET /realisations/sha256:aa!out HTTP/1.1\r\nHost: x\r\n\r\n",
        "GET /realisations/sha256:aa%2F..%2F!out.doi HTTP/1.1\r\nHost: x\r\n\r\n",
        "GET /realisations/../../sha256:aa!out.doi HTTP/1.1\r\nHost: x\r\n\r\n",
        "GET /build-trace-v2/0123456789abcdfghijklmnpqrsvwxyz-x.drv/../out.doi HTTP/1.1\r\nHost: x\r\n\r\n",
        "GET /build-trace-v2/0123456789abcdfghijklmnpqrsvwxyz-x.drv/%2e%2e.doi HTTP/1.1\r\nHost: x\r\n\r\n",
        "GET /debuginfo/..%2F..%2Fx HTTP/1.1\r\nHost: x\r\n\r\n",
        "GET /debuginfo/NOTHEX HTTP/1.1\r\nHost: x\r\n\r\n",
        "GET /eeee456789abcdfghijklmnpqrsvwxyz.ls HTTP/1.1\r\nHost: x\r\n\r\n",
        "POST /log/0123456789abcdfghijklmnpqrsvwxyz-a.drv HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n",
      })
  void rejectedWith4xxAndNeverForwarded(String raw) throws Exception {
    upstream.clearRequests();
    String reply = exchange(raw);
    assertThat(reply).matches("(?s)HTTP/1\\.1 4\\d\\d .*");
    assertThat(upstream.requests())
        .filteredOn(r -> !r.path().equals("/nix-cache-info"))
        .isEmpty();
    assertThat(exchange("GET /nix-cache-info HTTP/1.1\r\nHost: x\r\n\r\n"))
        .startsWith("HTTP/1.1 200");
  }

  @Test
  void overlongRequestLineAndHeaderFloods() throws Exception {
    upstream.clearRequests();
    assertThat(exchange("GET /nar/" + "a".repeat(5000) + " HTTP/1.1\r\nHost: x\r\n\r\n"))
        .matches("(?s)HTTP/1\\.1 4\\d\\d .*");
    assertThat(exchange("GET /log/0123456789abcdfghijklmnpqrsvwxyz-" + "a".repeat(1100)
            + ".drv HTTP/1.1\r\nHost: x\r\n\r\n"))
        .matches("(?s)HTTP/1\\.1 4\\d\\d .*");
    assertThat(exchange("GET /realisations/sha256:" + "%61".repeat(400)
            + "!out.doi HTTP/1.1\r\nHost: x\r\n\r\n"))
        .matches("(?s)HTTP/1\\.1 4\\d\\d .*");
    assertThat(exchange("GET /log/0123456789abcdfghijklmnpqrsvwxyz-" + "a".repeat(300)
            + ".drv HTTP/1.1\r\nHost: x\r\n\r\n"))
        .as("a store path name longer than Nix allows")
        .matches("(?s)HTTP/1\\.1 400 .*");
    assertThat(exchange("GET /log/0123456789abcdfghijklmnpqrsvwxyz-" + "a".repeat(1100)
            + ".drv HTTP/1.1\r\nHost: x\r\n\r\n"))
        .matches("(?s)HTTP/1\\.1 4\\d\\d .*");
    assertThat(exchange("GET /realisations/sha256:" + "%61".repeat(400)
            + "!out.doi HTTP/1.1\r\nHost: x\r\n\r\n"))
        .matches("(?s)HTTP/1\\.1 4\\d\\d .*");
    assertThat(exchange("GET /log/0123456789abcdfghijklmnpqrsvwxyz-" + "a".repeat(300)
            + ".drv HTTP/1.1\r\nHost: x\r\n\r\n"))
        .as("a store path name longer than Nix allows")
        .matches("(?s)HTTP/1\\.1 400 .*");
    StringBuilder flood = new StringBuilder("GET /nix-cache-info HTTP/1.1\r\nHost: x\r\n");
    for (int i = 0; i < 2000; i++) {
      flood.append("X-Flood-").append(i).append(": ").append("v".repeat(20)).append("\r\n");
    }
    assertThat(exchange(flood.append("\r\n").toString())).matches("(?s)HTTP/1\\.1 4\\d\\d .*");
    assertThat(upstream.requests())
        .filteredOn(r -> !r.path().equals("/nix-cache-info"))
        .isEmpty();
    assertThat(exchange("GET /health HTTP/1.1\r\nHost: x\r\n\r\n")).startsWith("HTTP/1.1 200");
  }
}

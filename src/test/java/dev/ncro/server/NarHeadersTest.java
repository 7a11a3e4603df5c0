package dev.ncro.server;

import static org.assertj.core.api.Assertions.assertThat;

import io.netty.handler.codec.http.DefaultHttpResponse;
import io.netty.handler.codec.http.HttpResponse;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.netty.handler.codec.http.HttpUtil;
import io.netty.handler.codec.http.HttpVersion;
import org.junit.jupiter.api.Test;

/** What a client sees of an upstream's NAR answer. */
class NarHeadersTest {
  private static HttpResponse upstream(HttpResponseStatus status, String... headers) {
    HttpResponse r = new DefaultHttpResponse(HttpVersion.HTTP_1_1, status);
    for (int i = 0; i < headers.length; i += 2) {
      r.headers().set(headers[i], headers[i + 1]);
    }
    return r;
  }

  @Test
  void passesTheFileHeadersAndNothingElse() {
    HttpResponse up = upstream(
        HttpResponseStatus.OK,
        "Content-Type",
        "application/x-nix-nar",
        "Content-Length",
        "1000",
        "ETag",
        "\"e\"",
        "Last-Modified",
        "Tue, 01 Dec 2026 08:00:00 GMT",
        "Accept-Ranges",
        "bytes",
        "Set-Cookie",
        "session=secret",
        "Connection",
        "close",
        "Server",
        "nginx",
        "Cache-Control",
        "max-age=60");
    HttpResponse out = NarHeaders.forClient(
        up, ByteWindow.open(200, 1000, null, -1), false, "cache.example:443", "nar-route");
    assertThat(out.status().code()).isEqualTo(200);
    assertThat(out.headers().get("Content-Type")).isEqualTo("application/x-nix-nar");
    assertThat(out.headers().get("Content-Length")).isEqualTo("1000");
    assertThat(out.headers().get("ETag")).isEqualTo("\"e\"");
    assertThat(out.headers().get("Last-Modified")).isEqualTo("Tue, 01 Dec 2026 08:00:00 GMT");
    assertThat(out.headers().get("Accept-Ranges")).isEqualTo("bytes");
    assertThat(out.headers().contains("Set-Cookie")).isFalse();
    assertThat(out.headers().contains("Connection")).isFalse();
    assertThat(out.headers().contains("Server")).isFalse();
    assertThat(out.headers().contains("Cache-Control")).isFalse();
    assertThat(out.headers().get(Responses.X_UPSTREAM)).isEqualTo("cache.example:443");
    assertThat(out.headers().get(Responses.X_ROUTE)).isEqualTo("nar-route");
    assertThat(HttpUtil.isTransferEncodingChunked(out)).isFalse();
  }

  @Test
  void anHonoured206PassesItsContentRange() {
    HttpResponse up = upstream(
        HttpResponseStatus.PARTIAL_CONTENT,
        "Content-Length",
        "400",
        "Content-Range",
        "bytes 600-999/1000");
    HttpResponse out = NarHeaders.forClient(
        up,
        ByteWindow.open(206, 400, new ContentRange(600, 999, 1000), 600),
        false,
        "h",
        "fallback");
    assertThat(out.status().code()).isEqualTo(206);
    assertThat(out.headers().get("Content-Range")).isEqualTo("bytes 600-999/1000");
    assertThat(out.headers().get("Content-Length")).isEqualTo("400");
  }

  @Test
  void aWhole200ToARangeRequestBecomesThe206Asked() {
    HttpResponse up = upstream(
        HttpResponseStatus.OK, "Content-Length", "100000", "Content-Type", "application/x-nix-nar");
    HttpResponse out = NarHeaders.forClient(
        up, ByteWindow.open(200, 100_000, null, 70_000), false, "h", "nar-route");
    assertThat(out.status().code()).isEqualTo(206);
    assertThat(out.headers().get("Content-Range")).isEqualTo("bytes 70000-99999/100000");
    assertThat(out.headers().get("Content-Length")).isEqualTo("30000");
    assertThat(out.headers().get("Content-Type")).isEqualTo("application/x-nix-nar");
  }

  @Test
  void aBodyOfUnknownLengthIsChunkedExceptForHead() {
    HttpResponse up = upstream(HttpResponseStatus.OK, "Content-Type", "application/x-nix-nar");
    ByteWindow w = ByteWindow.open(200, -1, null, -1);
    assertThat(HttpUtil.isTransferEncodingChunked(NarHeaders.forClient(up, w, false, "h", "r")))
        .isTrue();
    assertThat(HttpUtil.isTransferEncodingChunked(NarHeaders.forClient(up, w, true, "h", "r")))
        .isFalse();
  }
}

package dev.ncro.server;

import io.netty.buffer.Unpooled;
import io.netty.handler.codec.http.DefaultFullHttpResponse;
import io.netty.handler.codec.http.FullHttpResponse;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.netty.handler.codec.http.HttpVersion;
import java.nio.charset.StandardCharsets;

/** Builds the complete (non-streamed) responses ncro gives: small bodies with exact lengths. */
final class Responses {
  static final String NARINFO_TYPE = "text/x-nix-narinfo";
  static final String X_UPSTREAM = "X-Ncro-Upstream";
  static final String X_ROUTE = "X-Ncro-Route";

  private Responses() {}

  /** {@code head}: send the headers (with the GET body's length) but no body. */
  static FullHttpResponse of(int status, String contentType, byte[] body, boolean head) {
    FullHttpResponse r = new DefaultFullHttpResponse(
        HttpVersion.HTTP_1_1,
        HttpResponseStatus.valueOf(status),
        head ? Unpooled.EMPTY_BUFFER : Unpooled.wrappedBuffer(body));
    r.headers().set(HttpHeaderNames.CONTENT_TYPE, contentType);
    r.headers().setInt(HttpHeaderNames.CONTENT_LENGTH, body.length);
    return r;
  }

  static FullHttpResponse text(int status, String text, boolean head) {
    return of(
        status, "text/plain; charset=utf-8", (text + "\n").getBytes(StandardCharsets.UTF_8), head);
  }
}

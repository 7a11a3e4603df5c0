package dev.ncro.server;

import io.netty.handler.codec.http.DefaultHttpResponse;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpHeaders;
import io.netty.handler.codec.http.HttpResponse;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.netty.handler.codec.http.HttpUtil;
import io.netty.handler.codec.http.HttpVersion;

/**
 * The response headers a client gets for an upstream's NAR answer. Only headers that describe the
 * file pass through: hop-by-hop headers, cookies and the upstream's own caching or server headers
 * stay behind. When the upstream answered a client's {@code Range} with the whole file, the
 * answer becomes the 206 the client asked for (see {@link ByteWindow#cutToRange}), because Nix
 * fails on a 200 to its Range request.
 */
final class NarHeaders {
  private static final CharSequence[] PASSED = {
    HttpHeaderNames.CONTENT_TYPE,
    HttpHeaderNames.CONTENT_LENGTH,
    HttpHeaderNames.CONTENT_RANGE,
    HttpHeaderNames.LOCATION,
    HttpHeaderNames.LAST_MODIFIED,
    HttpHeaderNames.ETAG,
    HttpHeaderNames.ACCEPT_RANGES
  };

  private NarHeaders() {}

  /**
   * The client's response for {@code upstream} whose body is described by {@code window}; {@code
   * host} and {@code route} go into {@code X-Ncro-Upstream} and {@code X-Ncro-Route}.
   */
  static HttpResponse forClient(
      HttpResponse upstream, ByteWindow window, boolean head, String host, String route) {
    HttpResponse out = new DefaultHttpResponse(HttpVersion.HTTP_1_1, upstream.status());
    HttpHeaders from = upstream.headers();
    for (CharSequence n : PASSED) {
      String v = from.get(n);
      if (v != null) {
        out.headers().set(n, v);
      }
    }
    if (window.cutToRange()) {
      long last = window.fileLength() - 1;
      out.setStatus(HttpResponseStatus.PARTIAL_CONTENT);
      out.headers().set(HttpHeaderNames.CONTENT_LENGTH, window.promised());
      out.headers()
          .set(
              HttpHeaderNames.CONTENT_RANGE,
              "bytes " + window.firstByte() + "-" + last + "/" + window.fileLength());
    }
    if (window.promised() < 0 && !head) {
      HttpUtil.setTransferEncodingChunked(out, true);
    }
    out.headers().set(Responses.X_UPSTREAM, host);
    out.headers().set(Responses.X_ROUTE, route);
    return out;
  }
}

package dev.ncro.server;

import dev.ncro.narinfo.PathChars;
import dev.ncro.narinfo.StorePathHash;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpMethod;
import io.netty.handler.codec.http.HttpRequest;
import io.netty.handler.codec.http.TooLongHttpHeaderException;
import io.netty.handler.codec.http.TooLongHttpLineException;

/**
 * Classifies a request into a {@link Target}. It is the gate that keeps malformed input away from
 * upstreams: anything that is not exactly one of the shapes Nix uses is rejected with a 4xx here.
 * Deliberately strict: percent-encoding, dot segments, doubled slashes, backslashes and control
 * characters are refused outright rather than decoded, because no Nix request for a narinfo or NAR
 * contains them and decoding is where path-traversal bugs live. The one exception, the cache files
 * whose names hold {@code :} and {@code !} (realisations), is parsed by {@link CacheFilePath},
 * which decodes into a closed set of shapes.
 */
final class RequestPath {
  static final int MAX_URI = 1024;
  private static final int MAX_NAR_NAME = 256;

  private RequestPath() {}

  static Target classify(HttpRequest req) {
    if (req.decoderResult().isFailure()) {
      Throwable cause = req.decoderResult().cause();
      if (cause instanceof TooLongHttpLineException) {
        return new Target.Rejected(414, "request line too long");
      }
      if (cause instanceof TooLongHttpHeaderException) {
        return new Target.Rejected(431, "request headers too large");
      }
      return new Target.Rejected(400, "malformed request");
    }
    HttpMethod m = req.method();
    if (!m.equals(HttpMethod.GET) && !m.equals(HttpMethod.HEAD)) {
      return new Target.Rejected(405, "only GET and HEAD are supported");
    }
    if (req.headers().contains(HttpHeaderNames.TRANSFER_ENCODING)
        || (req.headers().contains(HttpHeaderNames.CONTENT_LENGTH)
            && req.headers().getAll(HttpHeaderNames.CONTENT_LENGTH).stream()
                .anyMatch(v -> !v.equals("0")))) {
      return new Target.Rejected(400, "request bodies are not accepted");
    }
    return classify(req.uri());
  }

  static Target classify(String uri) {
    if (uri.length() > MAX_URI) {
      return new Target.Rejected(414, "URI too long");
    }
    if (!uri.startsWith("/") || uri.startsWith("//")) {
      return new Target.Rejected(400, "only origin-form request targets are accepted");
    }
    int q = uri.indexOf('?');
    String path = q < 0 ? uri : uri.substring(0, q);
    String query = q < 0 ? null : uri.substring(q + 1);
    if (query != null && !safeQuery(query)) {
      return new Target.Rejected(400, "invalid characters in query");
    }
    Target file = CacheFilePath.classify(path, query);
    if (file != null) {
      return file;
    }
    if (!safePath(path)) {
      return new Target.Rejected(400, "invalid characters or segments in path");
    }
    switch (path) {
      case "/nix-cache-info":
        return new Target.NixCacheInfo();
      case "/health":
        return new Target.Health();
      case "/metrics":
        return new Target.Metrics();
      case "/status":
        return new Target.Status();
      case "/", "/ui":
        return new Target.StatusPage();
      default:
        break;
    }
    if (path.endsWith(".narinfo")) {
      String hash = path.substring(1, path.length() - ".narinfo".length());
      return StorePathHash.isValid(hash)
          ? new Target.Narinfo(hash)
          : new Target.Rejected(400, "invalid store path hash");
    }
    if (path.startsWith("/nar/")) {
      String name = path.substring(5);
      if (name.isEmpty() || name.length() > MAX_NAR_NAME || name.indexOf('/') >= 0) {
        return new Target.Rejected(400, "invalid NAR file name");
      }
      return new Target.Nar(uri.substring(1));
    }
    return new Target.NotFound();
  }

  /** Letters, digits and {@code - . _ ~ + = , /}; no empty, "." or ".." segments. */
  private static boolean safePath(String path) {
    for (int i = 0; i < path.length(); i++) {
      char c = path.charAt(i);
      if (c != '/' && !PathChars.safe(c)) {
        return false;
      }
    }
    for (String seg : path.substring(1).split("/", -1)) {
      if (seg.equals(".") || seg.equals("..") || (seg.isEmpty() && path.length() > 1)) {
        return false;
      }
    }
    return true;
  }

  /** Printable ASCII without space, '#' or '%': query strings pass through to the upstream verbatim. */
  private static boolean safeQuery(String query) {
    for (int i = 0; i < query.length(); i++) {
      char c = query.charAt(i);
      if (c <= 0x20 || c >= 0x7f || c == '#' || c == '%' || c == '\\') {
        return false;
      }
    }
    return true;
  }
}

package dev.ncro.upstream;

import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpHeaders;
import io.netty.handler.codec.http.HttpMethod;
import java.nio.charset.StandardCharsets;
import java.util.Base64;

/**
 * How requests to one upstream are authorized: the hook every request to the upstream's own origin
 * (scheme, host, port) passes through just before it is written, after all other headers are set.
 * Requests that follow a redirect to another origin (a presigned storage URL) never pass through it,
 * so credentials reach only the host they were configured for.
 *
 * <p>An interface rather than a fixed header because schemes differ in what they need: Basic and
 * Bearer add a constant header; a signing scheme (S3 SigV4) signs the method, host, path and some
 * headers (e.g. {@code Range}) of each request. Implementations must not log or print the secret:
 * {@link #scheme()} is what {@code /status} shows.
 */
public interface RequestAuth {
  /**
   * Adds the authorization to a request. {@code pathAndQuery} is the raw request target as sent
   * (base path included), {@code headers} the request's headers so far, to read and to add to.
   */
  void authorize(HttpMethod method, String host, String pathAndQuery, HttpHeaders headers);

  /** A name for the scheme, safe to show ("none", "basic", "bearer", ...): never the secret. */
  String scheme();

  /**
   * True when an answer with this status may be a refusal of the credentials that only its body
   * tells apart: S3 answers 403 both for a bad signature and for a missing key (without list
   * permission), and only the XML error {@code Code} says which. Such an answer is read whole and
   * judged by {@link #refusal}.
   */
  default boolean mayRefuse(int status) {
    return false;
  }

  /**
   * Why the upstream refused ncro's credentials, or null when {@code status} and {@code body} (of
   * an answer for which {@link #mayRefuse} held) mean something else. Never holds a secret.
   */
  default String refusal(int status, byte[] body) {
    return null;
  }

  /** False when probes must GET: a HEAD answer has no body to tell a refusal by. */
  default boolean probeWithHead() {
    return true;
  }

  /** No credentials: requests go out as they are. */
  RequestAuth NONE = new RequestAuth() {
    @Override
    public void authorize(
        HttpMethod method, String host, String pathAndQuery, HttpHeaders headers) {}

    @Override
    public String scheme() {
      return "none";
    }

    @Override
    public String toString() {
      return "RequestAuth[none]";
    }
  };

  /** HTTP Basic ({@code RFC 7617}, UTF-8): nginx {@code auth_basic}, and netrc entries. */
  static RequestAuth basic(String username, String password) {
    String value = "Basic "
        + Base64.getEncoder()
            .encodeToString((username + ":" + password).getBytes(StandardCharsets.UTF_8));
    return new HeaderAuth("basic", value);
  }

  /** {@code Authorization: Bearer <token>} (Attic, most token-based caches). */
  static RequestAuth bearer(String token) {
    return new HeaderAuth("bearer", "Bearer " + token);
  }

  /** The token of ncro's own loopback server for {@code file://} caches ({@link LocalCacheServer}). */
  static RequestAuth local(String token) {
    return new HeaderAuth("local", "Bearer " + token);
  }

  /** A constant {@code Authorization} header; its value is kept out of {@link #toString()}. */
  final class HeaderAuth implements RequestAuth {
    private final String scheme;
    private final String value;

    private HeaderAuth(String scheme, String value) {
      this.scheme = scheme;
      this.value = value;
    }

    @Override
    public void authorize(
        HttpMethod method, String host, String pathAndQuery, HttpHeaders headers) {
      headers.set(HttpHeaderNames.AUTHORIZATION, value);
    }

    @Override
    public String scheme() {
      return scheme;
    }

    @Override
    public String toString() {
      return "RequestAuth[" + scheme + ", redacted]";
    }
  }
}

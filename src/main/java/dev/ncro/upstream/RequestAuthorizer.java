package dev.ncro.upstream;

import io.netty.handler.codec.http.HttpHeaders;
import io.netty.handler.codec.http.HttpMethod;
import java.net.URI;

/**
 * How one upstream proves who ncro is: adds credentials to each request just before it is sent,
 * and recognises the answers that mean those credentials were refused. An S3 bucket signs every
 * request (SigV4) and answers a bad signature with a 403 whose XML body says so; the body is the
 * only way to tell that refusal from S3's ordinary 403 for a missing key, so a refusal is decided
 * on status and body together.
 */
public interface RequestAuthorizer {
  /** An upstream without credentials. */
  RequestAuthorizer NONE = new RequestAuthorizer() {
    @Override
    public void authorize(HttpMethod method, URI target, HttpHeaders headers) {}
  };

  /**
   * Adds credentials to a request for {@code target} (absolute: scheme, host, port, raw path and
   * query), whose other headers, {@code Host} included, are already in {@code headers}. Called on
   * the connection's event loop for every request, retries included: it must not block.
   */
  void authorize(HttpMethod method, URI target, HttpHeaders headers);

  /** True when an answer with this status may be a refusal that only its body tells apart. */
  default boolean mayRefuse(int status) {
    return false;
  }

  /**
   * Why the upstream refused ncro's credentials, or null when {@code status} and {@code body} (an
   * answer for which {@link #mayRefuse} held) mean something else. Never holds a secret.
   */
  default String refusal(int status, byte[] body) {
    return null;
  }

  /** False when probes must GET: a HEAD answer has no body to tell a refusal by. */
  default boolean probeWithHead() {
    return true;
  }
}

package dev.ncro.server;

import dev.ncro.access.AccessPolicy;
import dev.ncro.access.Rejection;
import dev.ncro.metrics.Metrics;
import io.netty.channel.Channel;
import io.netty.handler.codec.http.FullHttpResponse;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpRequest;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.util.List;

/**
 * Applies the {@link AccessPolicy} to a classified request, on the event loop, before any
 * endpoint sees it. A rejection is answered here and only counted
 * ({@code ncro_client_rejected_total{reason}}), never logged: a scanner or a misconfigured client
 * must not be able to fill the log.
 */
final class ClientGate {
  /** Nix (curl) answers a 401 carrying this by sending its netrc credentials. */
  static final String CHALLENGE = "Basic realm=\"ncro\"";

  private final AccessPolicy policy;
  private final Metrics metrics;

  ClientGate(AccessPolicy policy, Metrics metrics) {
    this.policy = policy;
    this.metrics = metrics;
  }

  /** Null when {@code req} may go on; else the complete 401 or 403 response to send. */
  FullHttpResponse refuse(Channel ch, HttpRequest req, Target target) {
    if (policy.isOpen()) {
      return null; // the hot path of the default: no header lookups, no allocation
    }
    // Not an IP connection (a Unix socket): no address to check, credentials still apply.
    InetAddress peer = ch.remoteAddress() instanceof InetSocketAddress a ? a.getAddress() : null;
    List<String> forwarded =
        policy.trustedProxies().isEmpty() ? List.of() : req.headers().getAll("X-Forwarded-For");
    Rejection r = policy.check(
        peer, forwarded, req.headers().get(HttpHeaderNames.AUTHORIZATION), scope(target));
    if (r == null) {
      return null;
    }
    metrics.clientRejected(r);
    boolean head = RequestHandler.isHead(req);
    if (r.status() == 401) {
      FullHttpResponse resp = Responses.text(401, "credentials required", head);
      resp.headers().set(HttpHeaderNames.WWW_AUTHENTICATE, CHALLENGE);
      return resp;
    }
    return Responses.text(403, "forbidden", head);
  }

  /**
   * Written with instanceof, not an exhaustive switch: a new kind of target is part of the cache
   * (and so needs every check) unless it is named here.
   */
  static AccessPolicy.Scope scope(Target target) {
    if (target instanceof Target.Health) {
      return AccessPolicy.Scope.HEALTH;
    }
    if (target instanceof Target.Status
        || target instanceof Target.Metrics
        || target instanceof Target.StatusPage) {
      return AccessPolicy.Scope.ADMIN;
    }
    return AccessPolicy.Scope.CACHE;
  }
}

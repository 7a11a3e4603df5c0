package dev.ncro.upstream;

import io.netty.buffer.ByteBuf;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpResponse;
import java.net.URI;
import java.net.URISyntaxException;
import java.util.Locale;
import java.util.function.Supplier;

/**
 * Follows redirects inside ncro, for one request: a client that can reach only ncro (the usual
 * LAN or CI set-up) could not follow a {@code Location} to a storage host itself, and ncro must
 * count the bytes under the upstream that redirected. Sits between the connection and the
 * caller's listener: a 301/302/303/307/308 answer with a {@code Location} is drained (so its
 * connection stays reusable) and the request is sent again to the new URL; every other answer
 * goes to the caller as if the first request had produced it.
 *
 * <p>At most {@link #MAX_HOPS} redirects; {@code https} to {@code http} is refused (it would
 * expose the request, and credentials or presigned URLs, in clear); a missing, unparsable or
 * non-http(s) {@code Location} or one hop too many is an {@link FailureKind#PROTOCOL} failure that
 * names the reason. Each hop has its own first-byte timeout, so a chain cannot hang.
 */
final class Redirects implements ResponseListener {
  static final int MAX_HOPS = 5;

  /** Sends the next hop: absolute URL of the new request. */
  interface Hop {
    void send(URI target, ResponseListener listener);
  }

  private final ResponseListener delegate;
  private final Hop hop;
  /** The URL of the request in flight; parsed from {@code first} only when a redirect needs it. */
  private URI current;

  private final Supplier<URI> first;
  private int hops;
  /** The answer being read is a redirect to {@code next}: its body is dropped. */
  private URI next;
  /** A bad redirect was reported: the rest of that answer (already on its way) is dropped. */
  private boolean failed;

  Redirects(Supplier<URI> first, ResponseListener delegate, Hop hop) {
    this.first = first;
    this.delegate = delegate;
    this.hop = hop;
  }

  static boolean isRedirect(int status) {
    return status == 301 || status == 302 || status == 303 || status == 307 || status == 308;
  }

  @Override
  public void onSent(Exchange exchange) {
    if (!failed) {
      delegate.onSent(exchange);
    }
  }

  @Override
  public void onHeaders(HttpResponse response, Exchange exchange) {
    if (failed) {
      return;
    }
    int status = response.status().code();
    if (!isRedirect(status)) {
      delegate.onHeaders(response, exchange);
      return;
    }
    String location = response.headers().get(HttpHeaderNames.LOCATION);
    String problem;
    URI target = null;
    if (location == null || location.isBlank()) {
      problem = "redirect " + status + " without a Location";
    } else if (hops >= MAX_HOPS) {
      problem = "more than " + MAX_HOPS + " redirects (a loop?), last to " + redact(location);
    } else {
      try {
        if (current == null) {
          current = first.get();
        }
        target = current.resolve(new URI(location.strip()));
        problem = check(target);
      } catch (URISyntaxException | IllegalArgumentException e) {
        problem = "redirect " + status + " to an unparsable Location " + redact(location);
      }
    }
    if (problem != null) {
      failed = true;
      exchange.abort(); // takes effect after this read: the parts already decoded still arrive
      delegate.onError(new UpstreamException(FailureKind.PROTOCOL, problem), false);
      return;
    }
    next = target;
  }

  private String check(URI target) {
    String scheme = target.getScheme() == null ? "" : target.getScheme().toLowerCase(Locale.ROOT);
    if (!scheme.equals("http") && !scheme.equals("https")) {
      return "redirect to a non-http(s) Location " + redact(target.toString());
    }
    if (target.getHost() == null || target.getHost().isEmpty()) {
      return "redirect to a Location without a host " + redact(target.toString());
    }
    if ("https".equalsIgnoreCase(current.getScheme()) && scheme.equals("http")) {
      return "refused redirect from https to http: " + redact(target.toString());
    }
    return null;
  }

  /**
   * A Location for messages: scheme, host and path only. A presigned URL's query is a credential
   * (a signature, sometimes a token), and userinfo is one by definition.
   */
  static String redact(String location) {
    try {
      URI u = new URI(location.strip());
      if (u.getHost() == null) {
        return "\"" + (u.getRawPath() == null ? "" : u.getRawPath()) + "\"";
      }
      return "\"" + u.getScheme() + "://" + u.getHost() + (u.getPort() > 0 ? ":" + u.getPort() : "")
          + (u.getRawPath() == null ? "" : u.getRawPath()) + "\"";
    } catch (URISyntaxException e) {
      return "(unparsable)";
    }
  }

  @Override
  public void onContent(ByteBuf content) {
    if (next != null || failed) {
      content.release();
      return;
    }
    delegate.onContent(content);
  }

  @Override
  public void onReadBatchEnd() {
    if (next == null && !failed) {
      delegate.onReadBatchEnd();
    }
  }

  @Override
  public void onSpliced(long n) {
    if (next == null && !failed) {
      delegate.onSpliced(n);
    }
  }

  @Override
  public void onComplete() {
    if (failed) {
      return;
    }
    if (next == null) {
      delegate.onComplete();
      return;
    }
    current = next;
    next = null;
    hops++;
    hop.send(current, this);
  }

  @Override
  public void onError(UpstreamException error, boolean headersSeen) {
    if (failed) {
      return;
    }
    boolean redirecting = next != null;
    next = null;
    delegate.onError(error, headersSeen && !redirecting);
  }
}

package dev.ncro.upstream;

import dev.ncro.config.OutboundProxy;
import dev.ncro.config.TimeoutsConfig;
import dev.ncro.transport.Transport;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFuture;
import io.netty.handler.codec.http.DefaultFullHttpRequest;
import io.netty.handler.codec.http.FullHttpRequest;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpHeaders;
import io.netty.handler.codec.http.HttpMethod;
import io.netty.handler.codec.http.HttpResponse;
import io.netty.handler.codec.http.HttpVersion;
import java.net.URI;
import java.util.Locale;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;

/**
 * HTTP/1.1 client for upstream caches, on the same Netty event loops as the server. Bodies are
 * never buffered here: {@link #send} streams response parts to a {@link ResponseListener}, and
 * {@link #fetch} is the small-body convenience (narinfo, nix-cache-info) built on it.
 *
 * <p>No transfer or content encoding is requested or undone: NAR files pass through byte for byte.
 */
public final class UpstreamClient implements AutoCloseable {
  private final Transport transport;
  private final TimeoutsConfig timeouts;
  private final TlsTrust trust;
  private final String userAgent;
  private final OutboundProxy proxy;
  private final ConcurrentHashMap<PoolKey, ConnectionPool> pools = new ConcurrentHashMap<>();
  private volatile boolean closed;

  public UpstreamClient(Transport transport, TimeoutsConfig timeouts, String userAgent) {
    this(
        transport,
        timeouts,
        userAgent,
        TlsTrust.system(System.getenv(), System.getProperty("ncro.tls.provider", "")));
  }

  public UpstreamClient(
      Transport transport, TimeoutsConfig timeouts, String userAgent, TlsTrust trust) {
    this(transport, timeouts, userAgent, trust, OutboundProxy.NONE);
  }

  /** {@code proxy}: the forward proxies connections go through ({@code https_proxy} and siblings). */
  public UpstreamClient(
      Transport transport,
      TimeoutsConfig timeouts,
      String userAgent,
      TlsTrust trust,
      OutboundProxy proxy) {
    this.transport = transport;
    this.timeouts = timeouts;
    this.userAgent = userAgent;
    this.trust = trust;
    this.proxy = proxy;
  }

  /**
   * Sends {@code method path} to the upstream; the listener gets the response as it streams.
   * {@code extra} headers (e.g. Range) are added to the request, and to every redirected one.
   * Redirects are followed here ({@link Redirects}); the listener sees only the final answer.
   */
  public void send(
      Upstream upstream,
      HttpMethod method,
      String path,
      HttpHeaders extra,
      ResponseListener listener) {
    String target = upstream.resolve(path);
    Redirects follower = new Redirects(
        () -> firstUrl(upstream, target),
        listener,
        (next, l) -> sendTo(
            upstream,
            method,
            next,
            Origin.of(next),
            hostHeader(next),
            requestTarget(next),
            extra,
            l));
    sendTo(
        upstream,
        method,
        upstream.endpoint(),
        upstream.origin(),
        upstream.host(),
        target,
        extra,
        follower);
  }

  /** Connections are pooled per upstream and origin: a redirect target gets the upstream's trust. */
  private record PoolKey(String upstream, String origin) {}

  /** The absolute URL of the first request, for resolving a relative Location against. */
  private static URI firstUrl(Upstream upstream, String target) {
    try {
      return URI.create(upstream.origin() + target);
    } catch (
        IllegalArgumentException e) { // a path URI rejects: resolve Locations against the origin
      return URI.create(upstream.origin() + "/");
    }
  }

  private static String requestTarget(URI u) {
    String p = u.getRawPath() == null || u.getRawPath().isEmpty() ? "/" : u.getRawPath();
    return u.getRawQuery() == null ? p : p + "?" + u.getRawQuery();
  }

  /** One request to {@code url} (the upstream itself or a host it redirected to). */
  private void sendTo(
      Upstream upstream,
      HttpMethod method,
      URI url,
      String origin,
      String host,
      String target,
      HttpHeaders extra,
      ResponseListener given) {
    ConnectionPool pool = pool(upstream, url, origin);
    Req req = new Req(upstream, method, host, target, extra, origin.equals(upstream.origin()));
    ResponseListener listener = pool.route().mode() == ProxyRoute.Mode.FORWARD
        ? new ProxyRefusal(given, pool.route().display())
        : given;
    Channel idle = pool.pollIdle();
    if (idle != null) {
      dispatch(idle, true, pool, req, listener);
      return;
    }
    ChannelFuture warming = pool.claimWarming();
    if (warming != null) { // a warm-up connection on its way: sooner than a new one
      warming.addListener(f -> {
        if (f.isSuccess()) {
          dispatch(warming.channel(), false, pool, req, listener);
        } else {
          sendFresh(pool, req, listener);
        }
      });
      return;
    }
    sendFresh(pool, req, listener);
  }

  private ConnectionPool pool(Upstream upstream, URI url, String origin) {
    return pools.computeIfAbsent(new PoolKey(upstream.name(), origin), k -> {
      boolean https = "https".equals(url.getScheme());
      ConnectionPool p = new ConnectionPool(
          transport,
          url,
          https ? trust.context(upstream.caFile()) : null,
          timeouts.connect(),
          upstream.stats()::countTlsHandshake,
          ProxyRoute.of(proxy.forUrl(url), https, () -> trust.context(null)));
      if (origin.equals(upstream.origin())) {
        upstream.stats().idleConnections(p::idleCount);
      }
      return p;
    });
  }

  /**
   * Keeps {@code upstream}'s {@code warm_connections} (at most its {@code max_inflight}) idle
   * connections open to its own origin ahead of demand, while it is {@link Upstream#available()}
   * (see {@link ConnectionPool#keepWarm}). Called after each successful probe, so warm-up starts
   * once the upstream has answered and resumes when it comes back.
   */
  public void keepWarm(Upstream upstream) {
    int max = upstream.inflight().limit();
    int min = Math.min(upstream.warmConnections(), max);
    if (closed || (min == 0 && !pools.containsKey(ownKey(upstream)))) {
      return;
    }
    pool(upstream, upstream.endpoint(), upstream.origin())
        .keepWarm(new ConnectionPool.Warmth(min, max, upstream::available));
  }

  /** Ends warm-up for an upstream that is gone, closing its idle connections. */
  public void stopWarm(Upstream upstream) {
    ConnectionPool p = pools.get(ownKey(upstream));
    if (p != null) {
      p.stopWarm();
    }
  }

  private static PoolKey ownKey(Upstream upstream) {
    return new PoolKey(upstream.name(), upstream.origin());
  }

  private static String hostHeader(URI u) {
    return u.getPort() < 0
            || u.getPort() == Origin.defaultPort(u.getScheme().toLowerCase(Locale.ROOT))
        ? u.getHost()
        : u.getHost() + ":" + u.getPort();
  }

  /** A request to send; {@code authorize}: it goes to the upstream's own origin, so credentials may go with it. */
  private record Req(
      Upstream upstream,
      HttpMethod method,
      String host,
      String target,
      HttpHeaders extra,
      boolean authorize) {}

  private void dispatch(
      Channel ch, boolean reused, ConnectionPool pool, Req req, ResponseListener listener) {
    Runnable retry = reused ? () -> sendFresh(pool, req, listener) : null;
    Exchange exchange = new Exchange(
        ch,
        pool,
        listener,
        timeouts.firstByte(),
        timeouts.stall(),
        reused,
        !HttpMethod.HEAD.equals(req.method()),
        retry);
    ch.eventLoop().execute(() -> {
      ClientConnectionHandler.attach(ch, exchange);
      exchange.start();
      listener.onSent(exchange);
      ch.writeAndFlush(request(req, pool.route())).addListener(w -> {
        exchange.requestWritten();
        if (!w.isSuccess()) {
          exchange.onConnectionLost(w.cause());
        }
      });
    });
  }

  private void sendFresh(ConnectionPool pool, Req req, ResponseListener listener) {
    if (closed) { // shutting down: the event loops may already refuse new channels
      // Not CONNECT: that would suspend the upstream and ask the (stopped) prober to check it.
      listener.onError(new UpstreamException(FailureKind.PROTOCOL, "ncro is shutting down"), false);
      return;
    }
    pool.connect().addListener(f -> {
      if (f.isSuccess()) {
        dispatch(((ChannelFuture) f).channel(), false, pool, req, listener);
      } else {
        listener.onError(UpstreamException.of(f.cause()), false);
      }
    });
  }

  private FullHttpRequest request(Req r, ProxyRoute route) {
    FullHttpRequest req = new DefaultFullHttpRequest(
        HttpVersion.HTTP_1_1, r.method(), r.target(), Unpooled.EMPTY_BUFFER);
    HttpHeaders h = req.headers();
    h.set(HttpHeaderNames.HOST, r.host());
    h.set(HttpHeaderNames.USER_AGENT, userAgent);
    h.set(HttpHeaderNames.ACCEPT, "*/*");
    if (r.extra() != null) {
      h.add(r.extra());
      h.remove(HttpHeaderNames.AUTHORIZATION); // only the upstream's own hook may set it
    }
    if (!h.contains(Hops.HEADER)) {
      h.set(
          Hops.HEADER,
          "1"); // on no client's behalf (a probe), or for a plain client: the first hop
    }
    if (r.authorize()) {
      r.upstream()
          .auth()
          .authorize(r.method(), r.host(), r.target(), h); // last: a signature covers the rest
    }
    if (route.mode() == ProxyRoute.Mode.FORWARD) {
      req.setUri("http://" + r.host() + r.target()); // absolute form: the proxy's next hop
      route.authorizeForward(h);
    }
    return req;
  }

  /**
   * GETs (or HEADs) a small resource and collects the body, up to {@code maxBytes}. Completes
   * with the answer whatever its status; fails with {@link UpstreamException} on transport
   * errors or an oversized body. Cancelling the future aborts the exchange.
   */
  public CompletableFuture<SmallResponse> fetch(
      Upstream upstream, HttpMethod method, String path, int maxBytes) {
    return fetch(upstream, method, path, maxBytes, null);
  }

  /** As {@link #fetch(Upstream, HttpMethod, String, int)}, with {@code extra} request headers (may be null). */
  public CompletableFuture<SmallResponse> fetch(
      Upstream upstream, HttpMethod method, String path, int maxBytes, HttpHeaders extra) {
    SmallResponseCollector collector = new SmallResponseCollector(maxBytes);
    send(upstream, method, path, extra, collector);
    return collector.future();
  }

  @Override
  public void close() {
    closed = true;
    pools.values().forEach(ConnectionPool::close);
  }

  /** Collects a small body into a byte array. */
  private static final class SmallResponseCollector implements ResponseListener {
    private final int maxBytes;
    private final CompletableFuture<SmallResponse> future = new CompletableFuture<>();
    private HttpResponse response;
    private Exchange exchange;
    private ByteBuf body;

    SmallResponseCollector(int maxBytes) {
      this.maxBytes = maxBytes;
    }

    CompletableFuture<SmallResponse> future() {
      return future;
    }

    @Override
    public void onHeaders(HttpResponse r, Exchange ex) {
      response = r;
      exchange = ex;
      if (future.isDone()) {
        ex.abort(); // cancelled while waiting for the headers
        return;
      }
      future.whenComplete((v, t) -> {
        if (future.isCancelled()) {
          ex.abort();
        }
      });
    }

    @Override
    public void onContent(ByteBuf content) {
      if (body == null) {
        body = Unpooled.buffer(Math.min(content.readableBytes(), maxBytes));
      }
      if (body.readableBytes() + content.readableBytes() > maxBytes) {
        content.release();
        body.release();
        body = null;
        exchange.abort();
        future.completeExceptionally(
            new UpstreamException(FailureKind.PROTOCOL, "body larger than " + maxBytes + " bytes"));
        return;
      }
      body.writeBytes(content);
      content.release();
    }

    @Override
    public void onComplete() {
      byte[] bytes = new byte[body == null ? 0 : body.readableBytes()];
      if (body != null) {
        body.readBytes(bytes);
        body.release();
        body = null;
      }
      future.complete(new SmallResponse(
          response.status().code(),
          response.headers(),
          bytes,
          exchange.latencyNanos(),
          exchange.arrivalNanos()));
    }

    @Override
    public void onError(UpstreamException error, boolean headersSeen) {
      if (body != null) {
        body.release();
        body = null;
      }
      future.completeExceptionally(error);
    }
  }
}

package dev.ncro.upstream;

import dev.ncro.config.TimeoutsConfig;
import dev.ncro.transport.Transport;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.handler.codec.http.DefaultFullHttpRequest;
import io.netty.handler.codec.http.FullHttpRequest;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpHeaders;
import io.netty.handler.codec.http.HttpMethod;
import io.netty.handler.codec.http.HttpResponse;
import io.netty.handler.codec.http.HttpVersion;
import io.netty.handler.ssl.SslContext;
import io.netty.handler.ssl.SslContextBuilder;
import java.net.URI;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import javax.net.ssl.SSLException;

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
  private final SslContext ssl;
  private final String userAgent;
  private final ConcurrentHashMap<String, ConnectionPool> pools = new ConcurrentHashMap<>();
  private volatile boolean closed;

  public UpstreamClient(Transport transport, TimeoutsConfig timeouts, String userAgent) {
    this.transport = transport;
    this.timeouts = timeouts;
    this.userAgent = userAgent;
    try {
      this.ssl = SslContextBuilder.forClient().build();
    } catch (SSLException e) {
      throw new IllegalStateException("cannot initialise TLS", e);
    }
  }

  /**
   * Sends {@code method path} to the upstream; the listener gets the response as it streams.
   * {@code extra} headers (e.g. Range) are added to the request.
   */
  public void send(Upstream upstream, HttpMethod method, String path, HttpHeaders extra, ResponseListener listener) {
    ConnectionPool pool = pools.computeIfAbsent(upstream.name(),
        k -> new ConnectionPool(transport, upstream.endpoint(), ssl, timeouts.connect()));
    Channel idle = pool.pollIdle();
    if (idle != null) {
      dispatch(idle, true, pool, upstream, method, path, extra, listener);
      return;
    }
    sendFresh(pool, upstream, method, path, extra, listener);
  }

  private void dispatch(
      Channel ch, boolean reused, ConnectionPool pool, Upstream upstream, HttpMethod method,
      String path, HttpHeaders extra, ResponseListener listener) {
    Runnable retry = reused ? () -> sendFresh(pool, upstream, method, path, extra, listener) : null;
    Exchange exchange = new Exchange(ch, pool, listener, timeouts.firstByte(), timeouts.stall(), reused,
        !HttpMethod.HEAD.equals(method), retry);
    ch.eventLoop().execute(() -> {
      ClientConnectionHandler.attach(ch, exchange);
      exchange.start();
      ch.writeAndFlush(request(upstream, method, path, extra)).addListener(w -> {
        if (!w.isSuccess()) {
          exchange.onConnectionLost(w.cause());
        }
      });
    });
  }

  private void sendFresh(ConnectionPool pool, Upstream upstream, HttpMethod method, String path, HttpHeaders extra, ResponseListener listener) {
    if (closed) { // shutting down: the event loops may already refuse new channels
      // Not CONNECT: that would suspend the upstream and ask the (stopped) prober to check it.
      listener.onError(new UpstreamException(FailureKind.PROTOCOL, "ncro is shutting down"), false);
      return;
    }
    pool.connect().addListener(f -> {
      if (f.isSuccess()) {
        dispatch(((io.netty.channel.ChannelFuture) f).channel(), false, pool, upstream, method, path, extra, listener);
      } else {
        listener.onError(UpstreamException.of(f.cause()), false);
      }
    });
  }

  private FullHttpRequest request(Upstream upstream, HttpMethod method, String path, HttpHeaders extra) {
    String target = upstream.resolve(path);
    FullHttpRequest req = new DefaultFullHttpRequest(HttpVersion.HTTP_1_1, method, target, Unpooled.EMPTY_BUFFER);
    HttpHeaders h = req.headers();
    h.set(HttpHeaderNames.HOST, upstream.host());
    h.set(HttpHeaderNames.USER_AGENT, userAgent);
    h.set(HttpHeaderNames.ACCEPT, "*/*");
    if (extra != null) {
      h.add(extra);
    }
    URI endpoint = upstream.endpoint();
    upstream.auth().authorize(method, URI.create(endpoint.getScheme() + "://" + upstream.host() + target), h);
    return req;
  }

  /**
   * GETs (or HEADs) a small resource and collects the body, up to {@code maxBytes}. Completes
   * with the answer whatever its status; fails with {@link UpstreamException} on transport
   * errors or an oversized body. Cancelling the future aborts the exchange.
   */
  public CompletableFuture<SmallResponse> fetch(Upstream upstream, HttpMethod method, String path, int maxBytes) {
    SmallResponseCollector collector = new SmallResponseCollector(maxBytes);
    send(upstream, method, path, null, collector);
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
        future.completeExceptionally(new UpstreamException(FailureKind.PROTOCOL, "body larger than " + maxBytes + " bytes"));
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
      future.complete(new SmallResponse(response.status().code(), response.headers(), bytes, exchange.elapsedNanos()));
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

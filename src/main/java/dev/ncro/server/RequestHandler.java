package dev.ncro.server;

import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.handler.codec.http.FullHttpResponse;
import io.netty.handler.codec.http.HttpMethod;
import io.netty.handler.codec.http.HttpRequest;
import io.netty.handler.codec.http.HttpUtil;
import io.netty.util.ReferenceCountUtil;
import io.netty.util.concurrent.ScheduledFuture;
import java.util.ArrayDeque;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * One client connection: takes decoded requests one at a time (pipelined ones wait in a short
 * queue), classifies them with {@link RequestPath}, and hands them to {@link Endpoints}. Owns the
 * connection-level timeouts: a client must deliver a request's headers within
 * {@code server.read_timeout} of the connection becoming idle. (A client that accepts no response
 * bytes for {@code server.write_timeout} is cut earlier in the pipeline, by {@link WriteStallHandler}.)
 */
final class RequestHandler extends ChannelInboundHandlerAdapter {
  private static final int MAX_PIPELINED = 16;
  private final Endpoints endpoints;
  private final ClientGate gate;
  private final long readTimeoutMillis;
  private final AtomicInteger inFlight;
  private final ArrayDeque<HttpRequest> queued = new ArrayDeque<>();
  private ChannelHandlerContext ctx;
  private boolean busy;
  private boolean keepAlive;
  private ScheduledFuture<?> headerDeadline;
  private StreamedResponse nar;

  RequestHandler(
      Endpoints endpoints, ClientGate gate, long readTimeoutMillis, AtomicInteger inFlight) {
    this.endpoints = endpoints;
    this.gate = gate;
    this.inFlight = inFlight;
    this.readTimeoutMillis = readTimeoutMillis;
  }

  @Override
  public void channelActive(ChannelHandlerContext ctx) {
    this.ctx = ctx;
    armHeaderDeadline();
    ctx.fireChannelActive();
  }

  @Override
  public void channelRead(ChannelHandlerContext ctx, Object msg) {
    if (msg instanceof HttpRequest req) {
      if (busy) {
        if (queued.size() >= MAX_PIPELINED) {
          ReferenceCountUtil.release(msg);
          ctx.close();
          return;
        }
        queued.add(req);
      } else {
        begin(req);
      }
    }
    // Request bodies are refused by RequestPath; their content parts are dropped here.
    if (!(msg instanceof HttpRequest)) {
      ReferenceCountUtil.release(msg);
    }
  }

  private void begin(HttpRequest req) {
    busy = true;
    inFlight.incrementAndGet();
    if (headerDeadline != null) {
      headerDeadline.cancel(false);
    }
    keepAlive = HttpUtil.isKeepAlive(req) && req.decoderResult().isSuccess();
    Target target = RequestPath.classify(req);
    FullHttpResponse refused = gate.refuse(ctx.channel(), req, target);
    if (refused != null) {
      // A 401 keeps the connection (the client retries with credentials); a 403 ends it.
      keepAlive &= refused.status().code() == 401;
      respond(refused);
      return;
    }
    if (target instanceof Target.Rejected) {
      keepAlive = false;
    }
    endpoints.handle(target, req, this);
  }

  /** Sends a complete response and finishes the exchange. */
  void respond(FullHttpResponse response) {
    if (!ctx.channel().isActive()) {
      done();
      return;
    }
    HttpUtil.setKeepAlive(response, keepAlive);
    ctx.writeAndFlush(response);
    done();
  }

  /** Starts a streamed response (NAR, cache file); the proxy calls {@link #done} when it ends. */
  void stream(StreamedResponse proxy) {
    this.nar = proxy;
    proxy.start();
  }

  /** The current exchange ended: go on with a queued request or wait for the next one. */
  void done() {
    if (!ctx.executor().inEventLoop()) {
      ctx.executor().execute(this::done);
      return;
    }
    nar = null;
    if (busy) {
      inFlight.decrementAndGet();
    }
    busy = false;
    if (!keepAlive) {
      ctx.writeAndFlush(Unpooled.EMPTY_BUFFER).addListener(ChannelFutureListener.CLOSE);
      return;
    }
    HttpRequest next = queued.poll();
    if (next != null) {
      begin(next);
    } else {
      armHeaderDeadline();
    }
  }

  Channel channel() {
    return ctx.channel();
  }

  @Override
  public void channelWritabilityChanged(ChannelHandlerContext ctx) {
    StreamedResponse p = nar;
    if (p != null && ctx.channel().isWritable()) {
      p.clientWritable();
    }
    ctx.fireChannelWritabilityChanged();
  }

  @Override
  public void channelInactive(ChannelHandlerContext ctx) {
    StreamedResponse p = nar;
    if (p != null) {
      p.clientClosed();
    }
    if (busy) {
      busy = false;
      inFlight.decrementAndGet();
    }
    if (headerDeadline != null) {
      headerDeadline.cancel(false);
    }
    queued.forEach(ReferenceCountUtil::release);
    queued.clear();
    ctx.fireChannelInactive();
  }

  @Override
  public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
    ctx.close();
  }

  private void armHeaderDeadline() {
    headerDeadline = ctx.executor()
        .schedule(
            () -> {
              if (!busy) {
                ctx.close();
              }
            },
            readTimeoutMillis,
            TimeUnit.MILLISECONDS);
  }

  static boolean isHead(HttpRequest req) {
    return req.method().equals(HttpMethod.HEAD);
  }
}

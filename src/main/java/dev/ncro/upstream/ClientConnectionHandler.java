package dev.ncro.upstream;

import io.netty.channel.Channel;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.util.AttributeKey;
import io.netty.util.ReferenceCountUtil;

/**
 * Last handler of every upstream connection: hands decoded response parts to the connection's
 * current {@link Exchange}, and reports a closed or broken connection to it. Bytes that arrive
 * while no exchange owns the connection (an upstream talking out of turn, e.g. a body after a
 * HEAD reply) poison the connection: it is closed instead of being reused.
 */
final class ClientConnectionHandler extends ChannelInboundHandlerAdapter {
  private static final AttributeKey<Exchange> CURRENT = AttributeKey.valueOf("ncro.exchange");

  static void attach(Channel ch, Exchange exchange) {
    ch.attr(CURRENT).set(exchange);
  }

  static void detach(Channel ch, Exchange exchange) {
    ch.attr(CURRENT).compareAndSet(exchange, null);
  }

  @Override
  public void channelRead(ChannelHandlerContext ctx, Object msg) {
    Exchange current = ctx.channel().attr(CURRENT).get();
    if (current == null) {
      ReferenceCountUtil.release(msg);
      ctx.close();
      return;
    }
    current.onMessage(msg);
  }

  @Override
  public void channelReadComplete(ChannelHandlerContext ctx) {
    Exchange current = ctx.channel().attr(CURRENT).get();
    if (current != null) {
      current.onReadBatchEnd();
    }
    ctx.fireChannelReadComplete();
  }

  @Override
  public void channelInactive(ChannelHandlerContext ctx) {
    Exchange current = ctx.channel().attr(CURRENT).get();
    if (current != null) {
      current.onConnectionLost(null);
    }
    ctx.fireChannelInactive();
  }

  @Override
  public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
    Exchange current = ctx.channel().attr(CURRENT).get();
    if (current != null) {
      current.onConnectionLost(cause);
    }
    ctx.close();
  }
}

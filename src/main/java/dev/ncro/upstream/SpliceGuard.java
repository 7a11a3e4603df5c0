package dev.ncro.upstream;

import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.util.ReferenceCountUtil;

/**
 * Stands in for an upstream connection's HTTP codec while a body is spliced past it
 * ({@link BodySplice}). Every body byte must go through the kernel pipe; Netty reads the socket
 * into user space whenever no splice task is queued and the connection is readable (between two
 * tasks, when the upstream half-closes), and such bytes are gone from the socket. A decoder would
 * take them for the start of a response, or hold them waiting for a line end, and the client would
 * get a body with a hole. Here they fail the exchange instead: the client has exactly the bytes
 * spliced so far, and a resume from another upstream starts there.
 */
final class SpliceGuard extends ChannelInboundHandlerAdapter {
  @Override
  public void channelRead(ChannelHandlerContext ctx, Object msg) {
    ReferenceCountUtil.release(msg);
    ctx.fireExceptionCaught(
        new UpstreamException(FailureKind.PROTOCOL, "body bytes were read past the splice"));
  }
}

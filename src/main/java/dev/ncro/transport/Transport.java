package dev.ncro.transport;

import io.netty.channel.EventLoopGroup;
import io.netty.channel.IoHandlerFactory;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.ServerChannel;
import io.netty.channel.epoll.Epoll;
import io.netty.channel.epoll.EpollIoHandler;
import io.netty.channel.epoll.EpollServerSocketChannel;
import io.netty.channel.epoll.EpollSocketChannel;
import io.netty.channel.nio.NioIoHandler;
import io.netty.channel.socket.SocketChannel;
import io.netty.channel.socket.nio.NioServerSocketChannel;
import io.netty.channel.socket.nio.NioSocketChannel;
import java.util.concurrent.ThreadFactory;

/**
 * The Netty event loops and channel classes shared by the client-facing server and the upstream
 * client: native epoll on Linux (fewer copies and syscalls than NIO), NIO elsewhere. One group
 * serves both sides, so a proxied byte usually never changes thread.
 */
public record Transport(
    EventLoopGroup group,
    Class<? extends ServerChannel> serverChannel,
    Class<? extends SocketChannel> socketChannel,
    String name) {

  public static Transport create(int threads) {
    ThreadFactory tf = Thread.ofPlatform().name("ncro-io-", 0).daemon(true).factory();
    if (Epoll.isAvailable()) {
      IoHandlerFactory f = EpollIoHandler.newFactory();
      return new Transport(
          new MultiThreadIoEventLoopGroup(threads, tf, f),
          EpollServerSocketChannel.class, EpollSocketChannel.class, "epoll");
    }
    return new Transport(
        new MultiThreadIoEventLoopGroup(threads, tf, NioIoHandler.newFactory()),
        NioServerSocketChannel.class, NioSocketChannel.class, "nio");
  }

  public void shutdown() {
    group.shutdownGracefully(0, 2, java.util.concurrent.TimeUnit.SECONDS).syncUninterruptibly();
  }
}

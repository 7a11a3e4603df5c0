package bench;

import io.netty.bootstrap.Bootstrap;
import io.netty.bootstrap.ServerBootstrap;
import io.netty.buffer.Unpooled;
import io.netty.channel.*;
import io.netty.channel.epoll.EpollIoHandler;
import io.netty.channel.epoll.EpollServerSocketChannel;
import io.netty.channel.epoll.EpollSocketChannel;
import io.netty.channel.socket.SocketChannel;
import io.netty.handler.codec.DateFormatter;
import io.netty.handler.codec.http.*;
import io.netty.util.ReferenceCountUtil;
import java.net.InetSocketAddress;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Date;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.regex.Pattern;

/**
 * ncro's two hot paths on Netty 4.2 with epoll: a warm narinfo from memory, and a NAR streamed
 * from an upstream through an HttpClientCodec on the same event loop, with backpressure (upstream
 * autoRead is off while the client channel is not writable).
 *
 * <p>Usage: {@code java -jar netty-proto.jar PORT NARINFO_FILE UPSTREAM_BASE_URL}. The narinfo is
 * served for the hash that names the file ({@code <hash>.narinfo}). Response headers match the
 * Helidon prototype's (Date, Connection, Content-Length, Content-Type).
 */
public final class NettyProto {
  private static final Pattern NARINFO = Pattern.compile("/([0-9a-df-np-sv-z]{32})\\.narinfo");
  private static final Pattern NAR = Pattern.compile("/nar/[A-Za-z0-9._+-]{1,200}");
  /** As ncro: a slow client holds at most about this much of a NAR in memory. */
  private static final WriteBufferWaterMark WATER_MARK = new WriteBufferWaterMark(128 * 1024, 512 * 1024);

  private static Map<String, byte[]> narinfos;
  private static InetSocketAddress upstream;
  private static String upstreamHost;
  private static volatile String date = DateFormatter.format(new Date());

  public static void main(String[] args) throws Exception {
    int port = Integer.parseInt(args[0]);
    Path file = Path.of(args[1]);
    narinfos = Map.of(file.getFileName().toString().replace(".narinfo", ""), Files.readAllBytes(file));
    URI base = URI.create(args[2]);
    upstream = new InetSocketAddress(base.getHost(), base.getPort());
    upstreamHost = base.getHost() + ":" + base.getPort();
    // One event loop per core, shared by the server and the upstream client (as in ncro).
    EventLoopGroup group = new MultiThreadIoEventLoopGroup(
        Runtime.getRuntime().availableProcessors(), EpollIoHandler.newFactory());
    group.scheduleAtFixedRate(() -> date = DateFormatter.format(new Date()), 1, 1, TimeUnit.SECONDS);
    Channel listener = new ServerBootstrap()
        .group(group)
        .channel(EpollServerSocketChannel.class)
        .option(ChannelOption.SO_BACKLOG, 1024)
        .childOption(ChannelOption.TCP_NODELAY, true)
        .childOption(ChannelOption.WRITE_BUFFER_WATER_MARK, WATER_MARK)
        .childHandler(new ChannelInitializer<SocketChannel>() {
          @Override
          protected void initChannel(SocketChannel ch) {
            ch.pipeline().addLast(new HttpServerCodec(), new ClientSide());
          }
        })
        .bind("127.0.0.1", port).sync().channel();
    System.out.println("netty-proto listening on " + ((InetSocketAddress) listener.localAddress()).getPort());
    listener.closeFuture().sync();
  }

  /** One client connection: answers narinfos, and relays NARs from the upstream. */
  static final class ClientSide extends ChannelInboundHandlerAdapter {
    private Channel upstreamChannel;
    private boolean keepAlive;

    @Override
    public void channelRead(ChannelHandlerContext ctx, Object msg) {
      try {
        if (msg instanceof HttpRequest req) {
          keepAlive = HttpUtil.isKeepAlive(req);
          var m = NARINFO.matcher(req.uri());
          if (req.method() == HttpMethod.GET && m.matches()) {
            byte[] body = narinfos.get(m.group(1));
            reply(ctx.channel(), body == null ? HttpResponseStatus.NOT_FOUND : HttpResponseStatus.OK, body);
          } else if (req.method() == HttpMethod.GET && NAR.matcher(req.uri()).matches()) {
            relay(ctx.channel(), req.uri());
          } else {
            reply(ctx.channel(), HttpResponseStatus.NOT_FOUND, null);
          }
        }
      } finally {
        ReferenceCountUtil.release(msg);
      }
    }

    <T extends HttpResponse> T headers(T res) {
      res.headers().set(HttpHeaderNames.DATE, date)
          .set(HttpHeaderNames.CONNECTION, keepAlive ? HttpHeaderValues.KEEP_ALIVE : HttpHeaderValues.CLOSE);
      return res;
    }

    void reply(Channel client, HttpResponseStatus status, byte[] body) {
      FullHttpResponse res = headers(new DefaultFullHttpResponse(HttpVersion.HTTP_1_1, status,
          body == null ? Unpooled.EMPTY_BUFFER : Unpooled.wrappedBuffer(body)));
      res.headers().setInt(HttpHeaderNames.CONTENT_LENGTH, res.content().readableBytes());
      if (body != null) {
        res.headers().set(HttpHeaderNames.CONTENT_TYPE, "text/x-nix-narinfo");
      }
      ChannelFuture f = client.writeAndFlush(res);
      if (!keepAlive) {
        f.addListener(ChannelFutureListener.CLOSE);
      }
    }

    private void relay(Channel client, String path) {
      client.config().setAutoRead(false); // one exchange at a time on this connection
      new Bootstrap()
          .group(client.eventLoop())
          .channel(EpollSocketChannel.class)
          .option(ChannelOption.TCP_NODELAY, true)
          .handler(new ChannelInitializer<SocketChannel>() {
            @Override
            protected void initChannel(SocketChannel ch) {
              ch.pipeline().addLast(new HttpClientCodec(8192, 32768, 1 << 20), new UpstreamSide(client, ClientSide.this));
            }
          })
          .connect(upstream)
          .addListener((ChannelFutureListener) f -> {
            if (!f.isSuccess()) {
              client.config().setAutoRead(true);
              reply(client, HttpResponseStatus.BAD_GATEWAY, null);
              return;
            }
            upstreamChannel = f.channel();
            var req = new DefaultFullHttpRequest(HttpVersion.HTTP_1_1, HttpMethod.GET, path);
            req.headers().set(HttpHeaderNames.HOST, upstreamHost);
            upstreamChannel.writeAndFlush(req);
          });
    }

    /** Called by the upstream side when the NAR is complete (ok) or failed. */
    void relayDone(Channel client, boolean ok) {
      if (upstreamChannel != null) {
        upstreamChannel.close();
        upstreamChannel = null;
      }
      if (ok && keepAlive) {
        client.config().setAutoRead(true);
      } else {
        client.writeAndFlush(Unpooled.EMPTY_BUFFER).addListener(ChannelFutureListener.CLOSE);
      }
    }

    @Override
    public void channelWritabilityChanged(ChannelHandlerContext ctx) {
      if (upstreamChannel != null) {
        upstreamChannel.config().setAutoRead(ctx.channel().isWritable());
      }
      ctx.fireChannelWritabilityChanged();
    }

    @Override
    public void channelInactive(ChannelHandlerContext ctx) {
      if (upstreamChannel != null) {
        upstreamChannel.close();
      }
    }

    @Override
    public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
      ctx.close();
    }
  }

  /** The upstream connection of one NAR exchange: headers and body chunks go straight to the client. */
  static final class UpstreamSide extends ChannelInboundHandlerAdapter {
    private final Channel client;
    private final ClientSide clientSide;
    private boolean streaming;
    private boolean done;

    UpstreamSide(Channel client, ClientSide clientSide) {
      this.client = client;
      this.clientSide = clientSide;
    }

    @Override
    public void channelRead(ChannelHandlerContext ctx, Object msg) {
      if (msg instanceof HttpResponse up) {
        if (up.status().code() != 200) {
          ReferenceCountUtil.release(msg);
          done = true;
          clientSide.reply(client, up.status().code() == 404 ? HttpResponseStatus.NOT_FOUND : HttpResponseStatus.BAD_GATEWAY, null);
          clientSide.relayDone(client, true);
          return;
        }
        HttpResponse res = clientSide.headers(new DefaultHttpResponse(HttpVersion.HTTP_1_1, HttpResponseStatus.OK));
        String len = up.headers().get(HttpHeaderNames.CONTENT_LENGTH);
        if (len != null) {
          res.headers().set(HttpHeaderNames.CONTENT_LENGTH, len);
        } else {
          HttpUtil.setTransferEncodingChunked(res, true);
        }
        res.headers().set(HttpHeaderNames.CONTENT_TYPE, up.headers().get(HttpHeaderNames.CONTENT_TYPE, "application/octet-stream"));
        client.write(res);
        streaming = true;
      }
      if (msg instanceof HttpContent chunk) {
        if (!streaming) {
          chunk.release();
          return;
        }
        client.write(chunk); // ownership passes to the client channel
        if (chunk instanceof LastHttpContent) {
          client.flush();
          done = true;
          clientSide.relayDone(client, true);
        } else if (!client.isWritable()) {
          ctx.channel().config().setAutoRead(false); // resumed by ClientSide on writability
        }
      }
    }

    @Override
    public void channelReadComplete(ChannelHandlerContext ctx) {
      client.flush();
    }

    @Override
    public void channelInactive(ChannelHandlerContext ctx) {
      if (!done) { // upstream died mid-exchange: the client must never see a clean end
        done = true;
        if (streaming) {
          client.close();
        } else {
          clientSide.reply(client, HttpResponseStatus.BAD_GATEWAY, null);
          clientSide.relayDone(client, false);
        }
      }
    }

    @Override
    public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
      ctx.close();
    }
  }
}

package dev.ncro.bench;

import io.netty.bootstrap.ServerBootstrap;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.SimpleChannelInboundHandler;
import io.netty.channel.nio.NioIoHandler;
import io.netty.channel.socket.SocketChannel;
import io.netty.channel.socket.nio.NioServerSocketChannel;
import io.netty.handler.codec.http.DefaultFullHttpResponse;
import io.netty.handler.codec.http.FullHttpResponse;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpObjectAggregator;
import io.netty.handler.codec.http.HttpRequest;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.netty.handler.codec.http.HttpServerCodec;
import io.netty.handler.codec.http.HttpUtil;
import io.netty.handler.codec.http.HttpVersion;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.util.regex.Pattern;

/**
 * The upstream of {@code bench/scale}: answers {@code GET /<hash>.narinfo} for every valid hash
 * with an unsigned narinfo of about 1 KB generated from the hash (ten references, like a real
 * route), so ncro can be filled with a million distinct routes through its own race and store,
 * without a million files on disk. Prints its port on stdout, then serves until killed.
 *
 * <p>Usage: {@code java -cp ... dev.ncro.bench.ScaleUpstream [threads] [port]} (a fixed port lets a
 * kept database be reused: routes name their upstream by URL).
 */
public final class ScaleUpstream {
  private static final Pattern NARINFO = Pattern.compile("/([0-9a-df-np-sv-z]{32})\\.narinfo");
  private static final byte[] CACHE_INFO =
      "StoreDir: /nix/store\nWantMassQuery: 1\nPriority: 40\n".getBytes(StandardCharsets.US_ASCII);

  private ScaleUpstream() {}

  public static void main(String[] args) throws Exception {
    int threads = args.length > 0 ? Integer.parseInt(args[0]) : 1;
    int port = args.length > 1 ? Integer.parseInt(args[1]) : 0;
    EventLoopGroup group = new MultiThreadIoEventLoopGroup(threads, NioIoHandler.newFactory());
    Channel ch = new ServerBootstrap()
        .group(group)
        .channel(NioServerSocketChannel.class)
        .childHandler(new ChannelInitializer<SocketChannel>() {
          @Override
          protected void initChannel(SocketChannel c) {
            c.pipeline()
                .addLast(new HttpServerCodec(), new HttpObjectAggregator(8192), new Handler());
          }
        })
        .bind(new InetSocketAddress("127.0.0.1", port))
        .sync()
        .channel();
    System.out.println(((InetSocketAddress) ch.localAddress()).getPort());
    System.out.flush();
    ch.closeFuture().sync();
  }

  /** The narinfo for {@code hash}: what a real cache serves for a small package, unsigned. */
  static byte[] narinfo(String hash) {
    String name = hash + "-scale-" + hash.substring(24);
    StringBuilder sb = new StringBuilder(1100)
        .append("StorePath: /nix/store/")
        .append(name)
        .append('\n')
        .append("URL: nar/")
        .append(hash)
        .append(hash, 0, 20)
        .append(".nar.zst\n")
        .append("Compression: zstd\n")
        .append("FileHash: sha256:")
        .append(hash)
        .append(hash, 0, 20)
        .append('\n')
        .append("FileSize: 48120\n")
        .append("NarHash: sha256:")
        .append(hash, 0, 20)
        .append(hash)
        .append('\n')
        .append("NarSize: 226488\n")
        .append("References:");
    for (int i = 0; i < 10; i++) {
      sb.append(' ')
          .append(hash, 0, 31)
          .append((char) ('a' + i))
          .append("-glibc-2.40-66-")
          .append(i);
    }
    sb.append('\n')
        .append("Deriver: ")
        .append(hash.substring(1))
        .append("a-scale-")
        .append(hash, 24, 32)
        .append(".drv\n");
    return sb.toString().getBytes(StandardCharsets.US_ASCII);
  }

  private static final class Handler extends SimpleChannelInboundHandler<HttpRequest> {
    @Override
    protected void channelRead0(ChannelHandlerContext ctx, HttpRequest req) {
      String uri = req.uri();
      var m = NARINFO.matcher(uri);
      FullHttpResponse res;
      if (m.matches()) {
        res = ok(narinfo(m.group(1)), "text/x-nix-narinfo");
      } else if (uri.equals("/nix-cache-info")) {
        res = ok(CACHE_INFO, "text/plain");
      } else {
        res = new DefaultFullHttpResponse(HttpVersion.HTTP_1_1, HttpResponseStatus.NOT_FOUND);
        res.headers().set(HttpHeaderNames.CONTENT_LENGTH, 0);
      }
      HttpUtil.setKeepAlive(res, HttpUtil.isKeepAlive(req));
      ctx.writeAndFlush(res);
    }

    private static FullHttpResponse ok(byte[] body, String type) {
      ByteBuf buf = Unpooled.wrappedBuffer(body);
      FullHttpResponse res =
          new DefaultFullHttpResponse(HttpVersion.HTTP_1_1, HttpResponseStatus.OK, buf);
      res.headers()
          .set(HttpHeaderNames.CONTENT_TYPE, type)
          .set(HttpHeaderNames.CONTENT_LENGTH, body.length);
      return res;
    }
  }
}

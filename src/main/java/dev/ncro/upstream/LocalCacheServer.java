package dev.ncro.upstream;

import dev.ncro.transport.Transport;
import io.netty.bootstrap.ServerBootstrap;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelOption;
import io.netty.channel.DefaultFileRegion;
import io.netty.channel.SimpleChannelInboundHandler;
import io.netty.channel.socket.SocketChannel;
import io.netty.handler.codec.http.DefaultFullHttpResponse;
import io.netty.handler.codec.http.DefaultHttpResponse;
import io.netty.handler.codec.http.FullHttpRequest;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpHeaders;
import io.netty.handler.codec.http.HttpMethod;
import io.netty.handler.codec.http.HttpObjectAggregator;
import io.netty.handler.codec.http.HttpResponse;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.netty.handler.codec.http.HttpServerCodec;
import io.netty.handler.codec.http.HttpUtil;
import io.netty.handler.codec.http.HttpVersion;
import io.netty.handler.codec.http.LastHttpContent;
import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.URI;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.security.MessageDigest;
import java.security.SecureRandom;
import java.util.HexFormat;
import java.util.List;
import java.util.concurrent.Executor;
import java.util.regex.Pattern;

/**
 * {@code file://} binary caches (a directory on a local disk or an NFS mount, as {@code nix copy
 * --to file://…} writes it) served to ncro's own client over loopback, so they are upstreams like
 * any other: raced, routed, probed, streamed with backpressure, resumed with {@code Range} and
 * counted by one code path. Each directory is a base path ({@code /0}, {@code /1}, …) of one
 * server on 127.0.0.1 and an ephemeral port.
 *
 * <p>Only ncro may ask: every request must carry a random token made at start (compared in
 * constant time), so another local user cannot read through this port what the directory's
 * permissions keep from them. Keys are what a Nix cache holds ({@code nix-cache-info}, {@code
 * <hash>.narinfo}, {@code nar/…}, {@code log/…}, {@code realisations/…}, {@code *.ls}, {@code
 * debuginfo/…}): segments of letters, digits and {@code ._+-}, never {@code .} or {@code ..}; a
 * symbolic link that leads out of the directory is refused. Opening a file runs on {@code
 * blocking} (an NFS server may be slow); the body goes out by {@code sendfile}, on an event loop of
 * this server's own: a stalled mount then stalls the file:// transfers (which ncro's client sees as
 * a slow upstream: stall timeout, next holder), never the loops that serve every other client.
 */
public final class LocalCacheServer implements AutoCloseable {
  private static final Pattern KEY = Pattern.compile("[A-Za-z0-9._+-]+(/[A-Za-z0-9._+-]+)*");

  private final Transport own;
  private final Channel listener;
  private final String token;

  private LocalCacheServer(Transport own, Channel listener, String token) {
    this.own = own;
    this.listener = listener;
    this.token = token;
  }

  /** Serves {@code roots} (the i-th under {@code /i}) until {@link #close}. */
  public static LocalCacheServer start(Transport transport, List<Path> roots, Executor blocking)
      throws InterruptedException {
    byte[] secret = new byte[24];
    new SecureRandom().nextBytes(secret);
    String token = HexFormat.of().formatHex(secret);
    List<Path> real = roots.stream().map(LocalCacheServer::realDirectory).toList();
    byte[] expected = ("Bearer " + token).getBytes(StandardCharsets.US_ASCII);
    Transport own = transport.isolated("ncro-local-io");
    Channel ch;
    try {
      ch = new ServerBootstrap()
          .group(own.group())
          .channel(own.serverChannel())
          .childOption(ChannelOption.TCP_NODELAY, true)
          .childHandler(new ChannelInitializer<SocketChannel>() {
            @Override
            protected void initChannel(SocketChannel c) {
              c.pipeline()
                  .addLast(new HttpServerCodec(8192, 8192, 8192))
                  .addLast(new HttpObjectAggregator(0))
                  .addLast(new FileHandler(real, expected, blocking));
            }
          })
          .bind(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0))
          .sync()
          .channel();
    } catch (RuntimeException | InterruptedException e) {
      own.shutdown();
      throw e;
    }
    return new LocalCacheServer(own, ch, token);
  }

  /** The directory as it really is (links resolved), or as given when it cannot be resolved now. */
  private static Path realDirectory(Path p) {
    try {
      return p.toRealPath();
    } catch (IOException e) {
      return p.toAbsolutePath().normalize(); // answered 404 until it exists
    }
  }

  /** The base URL of the {@code i}-th directory. */
  public URI endpoint(int i) {
    InetSocketAddress a = (InetSocketAddress) listener.localAddress();
    return URI.create("http://127.0.0.1:" + a.getPort() + "/" + i);
  }

  /** What ncro's requests carry: the token, shown as the scheme {@code local} and never printed. */
  public RequestAuth auth() {
    return RequestAuth.local(token);
  }

  @Override
  public void close() {
    listener.close().syncUninterruptibly();
    own.shutdown();
  }

  /** Answers one request at a time per connection, as HTTP/1.1 keep-alive asks. */
  private static final class FileHandler extends SimpleChannelInboundHandler<FullHttpRequest> {
    private final List<Path> roots;
    private final byte[] expected;
    private final Executor blocking;

    FileHandler(List<Path> roots, byte[] expected, Executor blocking) {
      this.roots = roots;
      this.expected = expected;
      this.blocking = blocking;
    }

    @Override
    protected void channelRead0(ChannelHandlerContext ctx, FullHttpRequest req) {
      boolean head = HttpMethod.HEAD.equals(req.method());
      boolean keepAlive = HttpUtil.isKeepAlive(req);
      String auth = req.headers().get(HttpHeaderNames.AUTHORIZATION, "");
      if (!MessageDigest.isEqual(auth.getBytes(StandardCharsets.US_ASCII), expected)) {
        status(ctx, HttpResponseStatus.FORBIDDEN, keepAlive);
        return;
      }
      if (!head && !HttpMethod.GET.equals(req.method())) {
        status(ctx, HttpResponseStatus.METHOD_NOT_ALLOWED, keepAlive);
        return;
      }
      Target t = resolve(req.uri());
      if (t == null) {
        status(ctx, HttpResponseStatus.NOT_FOUND, keepAlive);
        return;
      }
      String range = req.headers().get(HttpHeaderNames.RANGE);
      // ncro's client sends one request at a time per connection: no pipelined answers to order.
      blocking.execute(() -> open(ctx, t, range, head, keepAlive));
    }

    private record Target(Path root, Path file) {}

    /** The file a request target names, or null when it names none of ours. */
    private Target resolve(String uri) {
      int q = uri.indexOf('?');
      String p = q < 0 ? uri : uri.substring(0, q);
      if (!p.startsWith("/")) {
        return null;
      }
      int slash = p.indexOf('/', 1);
      if (slash < 0 || !p.substring(1, slash).matches("[0-9]{1,4}")) {
        return null;
      }
      int i = Integer.parseInt(p.substring(1, slash));
      String key = p.substring(slash + 1);
      if (i >= roots.size() || !KEY.matcher(key).matches()) {
        return null;
      }
      for (String segment : key.split("/")) {
        if (segment.equals(".") || segment.equals("..")) {
          return null;
        }
      }
      return new Target(roots.get(i), roots.get(i).resolve(key));
    }

    /** On a blocking thread: opens the file and hands the answer back to the event loop. */
    private static void open(
        ChannelHandlerContext ctx, Target t, String range, boolean head, boolean keepAlive) {
      FileChannel fc = null;
      long size;
      Path file = t.file();
      try {
        Path real = file.toRealPath();
        if (!real.startsWith(t.root()) || !Files.isRegularFile(real, LinkOption.NOFOLLOW_LINKS)) {
          throw new IOException("not a file of the cache");
        }
        fc = FileChannel.open(real, StandardOpenOption.READ);
        size = fc.size();
      } catch (IOException | SecurityException e) {
        closeQuietly(fc);
        ctx.executor().execute(() -> status(ctx, HttpResponseStatus.NOT_FOUND, keepAlive));
        return;
      }
      FileChannel opened = fc;
      ctx.executor().execute(() -> send(ctx, file, opened, size, range, head, keepAlive));
    }

    private static void send(
        ChannelHandlerContext ctx,
        Path file,
        FileChannel fc,
        long size,
        String range,
        boolean head,
        boolean keepAlive) {
      long from = 0;
      HttpResponseStatus status = HttpResponseStatus.OK;
      if (range != null && range.matches("bytes=\\d{1,18}-")) {
        from = Long.parseLong(range.substring(6, range.length() - 1));
        if (from >= size) {
          closeQuietly(fc);
          HttpResponse r = new DefaultFullHttpResponse(
              HttpVersion.HTTP_1_1, HttpResponseStatus.REQUESTED_RANGE_NOT_SATISFIABLE);
          r.headers().set(HttpHeaderNames.CONTENT_RANGE, "bytes */" + size);
          finish(ctx, r, keepAlive);
          return;
        }
        status = HttpResponseStatus.PARTIAL_CONTENT;
      }
      HttpResponse r = new DefaultHttpResponse(HttpVersion.HTTP_1_1, status);
      HttpHeaders h = r.headers();
      h.set(HttpHeaderNames.CONTENT_LENGTH, size - from);
      h.set(HttpHeaderNames.CONTENT_TYPE, contentType(file));
      h.set(HttpHeaderNames.ACCEPT_RANGES, "bytes");
      if (status == HttpResponseStatus.PARTIAL_CONTENT) {
        h.set(HttpHeaderNames.CONTENT_RANGE, "bytes " + from + "-" + (size - 1) + "/" + size);
      }
      HttpUtil.setKeepAlive(r, keepAlive);
      ctx.write(r);
      if (head || size == from) {
        closeQuietly(fc);
      } else {
        ctx.write(new DefaultFileRegion(fc, from, size - from)); // closes fc when written
      }
      var done = ctx.writeAndFlush(LastHttpContent.EMPTY_LAST_CONTENT);
      if (!keepAlive) {
        done.addListener(ChannelFutureListener.CLOSE);
      }
    }

    private static String contentType(Path file) {
      String name = file.getFileName().toString();
      if (name.endsWith(".narinfo")) {
        return "text/x-nix-narinfo";
      }
      return name.equals("nix-cache-info") ? "text/x-nix-cache-info" : "application/octet-stream";
    }

    private static void status(ChannelHandlerContext ctx, HttpResponseStatus s, boolean keepAlive) {
      finish(
          ctx,
          new DefaultFullHttpResponse(HttpVersion.HTTP_1_1, s, Unpooled.EMPTY_BUFFER),
          keepAlive);
    }

    private static void finish(ChannelHandlerContext ctx, HttpResponse r, boolean keepAlive) {
      r.headers().set(HttpHeaderNames.CONTENT_LENGTH, 0);
      HttpUtil.setKeepAlive(r, keepAlive);
      var f = ctx.writeAndFlush(r);
      if (!keepAlive) {
        f.addListener(ChannelFutureListener.CLOSE);
      }
    }

    private static void closeQuietly(FileChannel fc) {
      if (fc != null) {
        try {
          fc.close();
        } catch (IOException ignored) {
          // nothing was sent from it
        }
      }
    }

    @Override
    public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
      ctx.close(); // ncro's client sees the connection end and reports the exchange as failed
    }
  }
}

package dev.ncro.it;

import static org.assertj.core.api.Assertions.assertThat;

import dev.ncro.config.Config;
import dev.ncro.config.ServerConfig;
import dev.ncro.support.Await;
import dev.ncro.support.Closer;
import dev.ncro.support.NcroHarness;
import dev.ncro.support.TestUpstream;
import io.netty.buffer.ByteBufAllocator;
import io.netty.buffer.ByteBufAllocatorMetricProvider;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.SocketTimeoutException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * Slow clients (issue 5): a client reading a NAR at 10 KB/s holds a bounded amount in ncro; one
 * that dribbles its request headers, or idles on a keep-alive connection, is cut by
 * {@code server.read_timeout}; one that stops reading is cut by {@code server.write_timeout}, while
 * one that reads slowly but steadily is not. Clients are raw sockets, so the test controls exactly
 * how fast bytes are taken off the wire.
 */
class SlowClientIT {
  private static final int NAR_SIZE = 64 << 20;
  private static final String NAR = "/nar/0big-slow-client.nar.zst";
  private static byte[] nar;

  @TempDir
  Path dir;

  @RegisterExtension
  final Closer open = new Closer();

  @BeforeAll
  static void makeNar() {
    nar = new byte[NAR_SIZE];
    new Random(42).nextBytes(nar);
  }

  private TestUpstream upstream() throws Exception {
    TestUpstream u = open.keep(TestUpstream.start());
    u.putNar(NAR, nar);
    return u;
  }

  private NcroHarness ncro(TestUpstream up, Duration readTimeout, Duration writeTimeout)
      throws Exception {
    Config base = NcroHarness.config(
        dir.resolve("routes.db"), NcroHarness.upstreams(List.of(up.uri()), null));
    ServerConfig s = base.server();
    Config c = new Config(
        new ServerConfig(s.listen(), readTimeout, writeTimeout, s.cachePriority()),
        base.upstreams(),
        base.cache(),
        base.timeouts(),
        base.logging(),
        base.mesh());
    return open.keep(NcroHarness.start(c));
  }

  /** A raw HTTP/1.1 client connection to ncro. */
  private final class RawClient implements AutoCloseable {
    final Socket socket = new Socket();
    final InputStream in;
    final OutputStream out;
    long contentLength = -1;
    long bodyRead;

    RawClient(NcroHarness n, int receiveBuffer) throws IOException {
      if (receiveBuffer > 0) {
        socket.setReceiveBufferSize(receiveBuffer); // before connect, so the window is fixed
      }
      socket.connect(new InetSocketAddress("127.0.0.1", n.ncro().address().getPort()), 5000);
      socket.setSoTimeout(20_000);
      in = socket.getInputStream();
      out = socket.getOutputStream();
      open.keep(this);
    }

    void send(String s) throws IOException {
      out.write(s.getBytes(StandardCharsets.ISO_8859_1));
      out.flush();
    }

    /** Reads a response head; returns the status line and remembers Content-Length. */
    String readHead() throws IOException {
      ByteArrayOutputStream b = new ByteArrayOutputStream();
      int state = 0;
      while (state < 4) {
        int c = in.read();
        if (c < 0) {
          throw new IOException("EOF in response head");
        }
        b.write(c);
        state =
            (c == '\r' && (state == 0 || state == 2)) || (c == '\n' && (state == 1 || state == 3))
                ? state + 1
                : 0;
      }
      String[] lines = b.toString(StandardCharsets.ISO_8859_1).split("\r\n");
      contentLength = -1;
      bodyRead = 0;
      for (String l : lines) {
        if (l.regionMatches(true, 0, "Content-Length:", 0, 15)) {
          contentLength = Long.parseLong(l.substring(15).trim());
        }
      }
      return lines[0];
    }

    /** Reads body bytes at about {@code bytesPerSecond} for {@code d}, checking them against the NAR. */
    void readSlowly(int bytesPerSecond, Duration d) throws IOException, InterruptedException {
      int step = bytesPerSecond / 10;
      byte[] buf = new byte[step];
      long end = System.nanoTime() + d.toNanos();
      while (System.nanoTime() < end) {
        int n = in.readNBytes(buf, 0, step);
        checkBody(buf, n);
        if (n < step) {
          throw new IOException("EOF after " + bodyRead + " body bytes");
        }
        Thread.sleep(100);
      }
    }

    /** Reads the rest of the body as fast as possible; returns the bytes read before EOF or an error. */
    long readRest() {
      byte[] buf = new byte[256 * 1024];
      try {
        while (bodyRead < contentLength) {
          int n = in.read(buf, 0, (int) Math.min(buf.length, contentLength - bodyRead));
          if (n < 0) {
            break;
          }
          checkBody(buf, n);
        }
      } catch (IOException e) {
        // reset by ncro: what a cut connection may look like
      }
      return bodyRead;
    }

    private void checkBody(byte[] buf, int n) {
      assertThat(Arrays.equals(buf, 0, n, nar, (int) bodyRead, (int) bodyRead + n))
          .as("body bytes %d..%d are the NAR's", bodyRead, bodyRead + n)
          .isTrue();
      bodyRead += n;
    }

    /** True once ncro has closed the connection (EOF or reset), false if it stays open {@code within}. */
    boolean closedByPeerWithin(Duration within) throws IOException {
      socket.setSoTimeout((int) within.toMillis());
      try {
        return in.read() < 0;
      } catch (SocketTimeoutException e) {
        return false;
      } catch (IOException e) {
        return true; // connection reset
      }
    }

    @Override
    public void close() throws IOException {
      socket.close();
    }
  }

  private static String get(String path) {
    return "GET " + path + " HTTP/1.1\r\nHost: ncro\r\nUser-Agent: slow-client-test\r\n\r\n";
  }

  /**
   * ncro's own buffering of one download: the client channel's write-buffer high-water mark (512 KiB)
   * plus what one read loop on the upstream connection may add before the pause takes effect (16
   * reads of at most 64 KiB, Netty's epoll defaults).
   */
  private static final long NETTY_HELD = 512 * 1024 + 16 * 64 * 1024;

  /**
   * How far the upstream may get ahead of a client that stopped (or nearly): ncro's own buffering,
   * plus every kernel socket buffer on the way, each at most what this machine's auto-tuning allows:
   * the upstream's send buffer and ncro's client-side send buffer (tcp_wmem max each), ncro's
   * upstream-side receive buffer (tcp_rmem max) and the client's fixed receive buffer (which Linux
   * doubles for bookkeeping). With Debian's defaults (4 MiB, 32 MiB) about 42 MiB; measured: ~10 MiB.
   */
  private static long heldBound(int clientReceiveBuffer) throws IOException {
    long wmemMax = sysctlMax("/proc/sys/net/ipv4/tcp_wmem");
    long rmemMax = sysctlMax("/proc/sys/net/ipv4/tcp_rmem");
    return NETTY_HELD + 2 * wmemMax + rmemMax + 2L * clientReceiveBuffer;
  }

  private static long sysctlMax(String file) throws IOException {
    // Not Files.readString: procfs reports a size it does not honour, and only a prefix comes back.
    try (InputStream in = Files.newInputStream(Path.of(file))) {
      String[] v =
          new String(in.readAllBytes(), StandardCharsets.US_ASCII).trim().split("\\s+");
      return Long.parseLong(v[v.length - 1]);
    }
  }

  private static long usedDirectMemory() {
    return ByteBufAllocator.DEFAULT instanceof ByteBufAllocatorMetricProvider p
        ? p.metric().usedDirectMemory()
        : -1;
  }

  @Test
  void aClientReadingAt10KBPerSecondHoldsABoundedBuffer() throws Exception {
    TestUpstream up = upstream();
    // write_timeout as shipped (30 s): with a 64 KiB receive buffer on loopback (MSS 64 KiB) this
    // client's window reopens only every few seconds, and this test is about memory, not timeouts.
    NcroHarness n = ncro(up, Duration.ofSeconds(5), Duration.ofSeconds(30));
    long directBefore = usedDirectMemory();
    RawClient c = new RawClient(n, 64 * 1024);
    c.send(get(NAR));
    assertThat(c.readHead()).startsWith("HTTP/1.1 200");
    assertThat(c.contentLength).isEqualTo(NAR_SIZE);

    long[] held = new long[4];
    for (int i = 0; i < held.length; i++) {
      c.readSlowly(10_000, Duration.ofSeconds(1));
      held[i] = up.bodyBytesWritten(NAR) - c.bodyRead;
    }
    long directDuring = usedDirectMemory();
    long bound = heldBound(c.socket.getReceiveBufferSize());
    System.out.printf(
        "held ahead of the client: %s bytes (bound %d); Netty direct memory %d -> %d%n",
        Arrays.toString(held), bound, directBefore, directDuring);
    assertThat(bound)
        .as("the bound must be able to tell buffering from streaming")
        .isLessThan(NAR_SIZE);
    for (long h : held) {
      assertThat(h).as("bytes the upstream got ahead of a 10 KB/s client").isBetween(0L, bound);
    }
    assertThat(held[held.length - 1])
        .as("the upstream moves only as fast as the client")
        .isLessThanOrEqualTo(held[0] + NETTY_HELD);
    if (directBefore >= 0) {
      // ncro's own part alone, as the allocator sees it (chunk-granular, hence the slack).
      assertThat(directDuring - directBefore)
          .as("Netty direct memory grown by the download")
          .isLessThan(16L << 20);
    }

    c.close();
    Await.until(
        "the upstream transfer is cut when the client goes away", () -> up.bodiesCutByPeer() == 1);
    long stopped = up.bodyBytesWritten(NAR);
    Thread.sleep(500);
    assertThat(up.bodyBytesWritten(NAR))
        .as("the upstream writes nothing more")
        .isEqualTo(stopped)
        .isLessThan(NAR_SIZE);
  }

  @Test
  void headersSentOneByteEvery200msAreCutByReadTimeout() throws Exception {
    TestUpstream up = upstream();
    NcroHarness n = ncro(up, Duration.ofSeconds(1), Duration.ofSeconds(5));
    RawClient c = new RawClient(n, 0);
    String path = "/nar/1slowloris-never-sent.nar.zst";
    byte[] request =
        get(path).getBytes(StandardCharsets.ISO_8859_1); // ~80 bytes: 16 s at this pace
    Thread dribble = Thread.ofVirtual().start(() -> {
      try {
        for (byte b : request) {
          c.out.write(b);
          c.out.flush();
          Thread.sleep(200);
        }
      } catch (IOException | InterruptedException e) {
        // cut by ncro: expected
      }
    });
    long t0 = System.nanoTime();
    assertThat(c.closedByPeerWithin(Duration.ofSeconds(8)))
        .as("ncro closed the dribbling connection")
        .isTrue();
    System.out.printf("dribbling client cut after %d ms%n", (System.nanoTime() - t0) / 1_000_000);
    dribble.interrupt();
    dribble.join(5000);
    assertThat(up.requests()).noneMatch(r -> r.path().equals(path));
  }

  @Test
  void aSecondRequestDribbledOnAKeepAliveConnectionIsCutToo() throws Exception {
    TestUpstream up = upstream();
    NcroHarness n = ncro(up, Duration.ofSeconds(1), Duration.ofSeconds(5));
    RawClient c = new RawClient(n, 0);
    c.send(get("/nix-cache-info"));
    assertThat(c.readHead()).startsWith("HTTP/1.1 200");
    c.in.readNBytes((int) c.contentLength);
    String path = "/nar/2slowloris-never-sent.nar.zst";
    byte[] request = get(path).getBytes(StandardCharsets.ISO_8859_1);
    Thread dribble = Thread.ofVirtual().start(() -> {
      try {
        for (byte b : request) {
          c.out.write(b);
          c.out.flush();
          Thread.sleep(200);
        }
      } catch (IOException | InterruptedException e) {
        // cut by ncro: expected
      }
    });
    assertThat(c.closedByPeerWithin(Duration.ofSeconds(8)))
        .as("ncro closed the dribbling connection")
        .isTrue();
    dribble.interrupt();
    dribble.join(5000);
    assertThat(up.requests()).noneMatch(r -> r.path().equals(path));
  }

  @Test
  void anIdleKeepAliveConnectionIsClosedAfterReadTimeout() throws Exception {
    TestUpstream up = upstream();
    NcroHarness n = ncro(up, Duration.ofSeconds(1), Duration.ofSeconds(5));
    RawClient c = new RawClient(n, 0);
    for (int i = 0; i < 3; i++) { // keep-alive works while the client keeps asking
      c.send(get("/nix-cache-info"));
      assertThat(c.readHead()).startsWith("HTTP/1.1 200");
      assertThat(new String(c.in.readNBytes((int) c.contentLength), StandardCharsets.UTF_8))
          .contains("StoreDir");
      Thread.sleep(300);
    }
    assertThat(c.closedByPeerWithin(Duration.ofSeconds(8)))
        .as("idle connection closed")
        .isTrue();
  }

  @Test
  void aClientThatStopsReadingIsCutByWriteTimeout() throws Exception {
    TestUpstream up = upstream();
    NcroHarness n = ncro(up, Duration.ofSeconds(5), Duration.ofSeconds(1));
    RawClient c = new RawClient(n, 0);
    c.send(get(NAR));
    assertThat(c.readHead()).startsWith("HTTP/1.1 200");
    // Read nothing more: ncro's buffer fills, then it must give up on us and on the upstream.
    Await.until(
        "the stalled download is cut, and the upstream transfer with it",
        () -> up.bodiesCutByPeer() == 1);
    long got = c.readRest();
    System.out.printf("stalled client got %d of %d bytes before the cut%n", got, NAR_SIZE);
    assertThat(got).as("never a whole body after the cut").isLessThan(NAR_SIZE);
  }

  @Test
  void aSlowButSteadyDownloadOutlastsWriteTimeout() throws Exception {
    TestUpstream up = upstream();
    NcroHarness n = ncro(up, Duration.ofSeconds(5), Duration.ofSeconds(2));
    // A small receive buffer, so TCP itself moves every few KB (bursts well under a second apart at
    // this pace): on loopback (MSS 64 KiB) a client with a default buffer reopens its window only
    // once 64 KiB are free, every 6 s at 10 KB/s, and truly accepts no bytes in between.
    RawClient c = new RawClient(n, 8 * 1024);
    c.send(get(NAR));
    assertThat(c.readHead()).startsWith("HTTP/1.1 200");
    c.readSlowly(10_000, Duration.ofSeconds(8)); // four write_timeouts at 10 KB/s
    assertThat(c.readRest()).as("whole body, never cut").isEqualTo(NAR_SIZE);
    assertThat(up.bodiesCutByPeer()).isZero();
  }
}

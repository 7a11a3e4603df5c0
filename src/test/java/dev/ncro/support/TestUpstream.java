package dev.ncro.support;

import java.io.BufferedInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;

/**
 * A programmable binary cache on loopback, written on raw sockets so a test can make it misbehave
 * in ways a well-behaved HTTP server library would not allow: answer late, hang, cut a body short,
 * refuse HEAD, send a body on a HEAD reply, answer a Range request with 200. Every request is
 * recorded, so tests can assert what reached the upstream (and what never did).
 */
public final class TestUpstream implements AutoCloseable {
  /** A request as received. */
  public record Request(String method, String path, Map<String, String> headers) {}

  /** A canned answer; the modifiers return copies. */
  public record Response(int status, String type, byte[] body, long truncateAfter, boolean hang) {
    public static Response ok(byte[] body) {
      return new Response(200, "application/octet-stream", body, -1, false);
    }

    public static Response status(int status) {
      return new Response(
          status,
          "text/plain",
          ("status " + status + "\n").getBytes(StandardCharsets.UTF_8),
          -1,
          false);
    }

    /** Declares the full length but closes the connection after {@code n} body bytes. */
    public Response truncateAfter(long n) {
      return new Response(status, type, body, n, hang);
    }

    /** Reads the request and never answers (a black hole). */
    public Response hanging() {
      return new Response(status, type, body, truncateAfter, true);
    }

    public Response withType(String t) {
      return new Response(status, t, body, truncateAfter, hang);
    }
  }

  private final ServerSocket server;
  private final Map<String, Response> routes = new ConcurrentHashMap<>();
  private final Map<String, String> encodings = new ConcurrentHashMap<>();
  private final List<Request> requests = new CopyOnWriteArrayList<>();
  private final List<Socket> sockets = new CopyOnWriteArrayList<>();
  private final AtomicInteger accepted = new AtomicInteger();
  private final AtomicInteger open = new AtomicInteger();
  private final AtomicInteger peakOpen = new AtomicInteger();
  private final AtomicInteger serving = new AtomicInteger();
  private final AtomicInteger peakServing = new AtomicInteger();
  private final AtomicInteger servingNarinfo = new AtomicInteger();
  private final AtomicInteger peakServingNarinfo = new AtomicInteger();
  private final CountDownLatch closed = new CountDownLatch(1);
  private final Map<String, AtomicLong> bodyBytes = new ConcurrentHashMap<>();
  private final AtomicInteger bodiesCut = new AtomicInteger();
  private final AtomicInteger hangsEndedByPeer = new AtomicInteger();
  private volatile Duration latency = Duration.ZERO;
  private volatile Response forAll;
  private volatile String retryAfter;
  private volatile boolean refuseHead;
  private volatile boolean bodyOnHead;
  private volatile boolean rangeAs200;
  private volatile boolean rangeOffByOne;
  private volatile boolean chunked;
  private volatile boolean corruptChunk;
  private volatile boolean stallAtTruncation;

  private TestUpstream(ServerSocket server) {
    this.server = server;
    routes.put(
        "/nix-cache-info",
        Response.ok("StoreDir: /nix/store\nWantMassQuery: 1\nPriority: 40\n"
                .getBytes(StandardCharsets.UTF_8))
            .withType("text/x-nix-cache-info"));
    Thread.ofPlatform()
        .daemon(true)
        .name("test-upstream-" + server.getLocalPort())
        .start(this::acceptLoop);
  }

  public static TestUpstream start() throws IOException {
    return start(0);
  }

  /** Starts on a given port (e.g. the port of a closed upstream, to bring it back). */
  public static TestUpstream start(int port) throws IOException {
    ServerSocket s = new ServerSocket();
    s.setReuseAddress(true);
    s.bind(new InetSocketAddress(InetAddress.getLoopbackAddress(), port), 100);
    return new TestUpstream(s);
  }

  public URI uri() {
    return URI.create("http://127.0.0.1:" + server.getLocalPort());
  }

  public void put(String path, Response r) {
    routes.put(path, r);
  }

  public void putNarinfo(String hash, byte[] body) {
    put("/" + hash + ".narinfo", Response.ok(body).withType("text/x-nix-narinfo"));
  }

  /** A narinfo stored compressed, answered with {@code Content-Encoding: encoding} (as Nix's S3 store writes them). */
  public void putEncodedNarinfo(String hash, byte[] encodedBody, String encoding) {
    String path = "/" + hash + ".narinfo";
    put(path, Response.ok(encodedBody).withType("text/x-nix-narinfo"));
    encodings.put(path, encoding);
  }

  public void putNar(String path, byte[] body) {
    put(path, Response.ok(body));
  }

  /** Delay before the response headers of every request. */
  public void setLatency(Duration d) {
    latency = d;
  }

  /** Every request (nix-cache-info included) gets this status. */
  public void status5xxForAll(int status) {
    forAll = Response.status(status);
  }

  /** Every request gets {@code status} with {@code Retry-After: retryAfter} (null: none). */
  public void throttleAll(int status, String retryAfter) {
    this.retryAfter = retryAfter;
    forAll = Response.status(status);
  }

  /** Every request is read and never answered. */
  public void hangAll() {
    forAll = Response.status(200).hanging();
  }

  /** Back to normal after {@link #hangAll()} or {@link #status5xxForAll(int)} (hung requests stay hung). */
  public void behave() {
    forAll = null;
    retryAfter = null;
  }

  /** HEAD gets 405; GET works. */
  public void refuseHead(boolean on) {
    refuseHead = on;
  }

  /** HEAD replies carry the body too (as nix-serve under Starman does), poisoning keep-alive. */
  public void bodyOnHead(boolean on) {
    bodyOnHead = on;
  }

  /** Range requests get the whole body with 200. */
  public void rangeAs200(boolean on) {
    rangeAs200 = on;
  }

  /** Answers a Range request with a 206 that starts one byte later than asked (a broken cache). */
  public void rangeOffByOne(boolean on) {
    rangeOffByOne = on;
  }

  /** Bodies over 16 KiB go with {@code Transfer-Encoding: chunked} (64 KiB chunks) instead of a Content-Length. */
  public void chunked(boolean on) {
    chunked = on;
  }

  /**
   * With {@link #chunked}: half-way through the body a chunk-size line that is not hexadecimal,
   * then the connection closes (a malformed body, not merely a short one).
   */
  public void corruptChunk(boolean on) {
    corruptChunk = on;
  }

  /**
   * A body with {@link Response#truncateAfter} stops there but keeps the connection open (until the
   * peer closes it): a body that stalls mid-way, instead of one that breaks.
   */
  public void stallAtTruncation(boolean on) {
    stallAtTruncation = on;
  }

  public List<Request> requests() {
    return List.copyOf(requests);
  }

  public void clearRequests() {
    requests.clear();
  }

  /** TCP connections accepted so far (keep-alive reuse shows as fewer connections than requests). */
  public int connectionCount() {
    return accepted.get();
  }

  /**
   * Response body bytes for {@code path} handed to the kernel so far, over all requests. Bodies are
   * written in 64 KiB pieces, so against a reader that applies backpressure this count stalls: it
   * shows how far ahead of the client the proxy (and the socket buffers between) let the upstream get.
   */
  public long bodyBytesWritten(String path) {
    AtomicLong n = bodyBytes.get(path);
    return n == null ? 0 : n.get();
  }

  /** Hung requests ({@link Response#hanging()}) whose connection the client closed. */
  public int hangsEndedByPeer() {
    return hangsEndedByPeer.get();
  }

  /** Responses whose body could not be written whole because the peer closed or reset the connection. */
  public int bodiesCutByPeer() {
    return bodiesCut.get();
  }

  /**
   * Closes every connection open now, as a server's keep-alive timeout closes idle ones (a request
   * being answered on one is cut off).
   */
  public void closeConnections() throws IOException {
    for (Socket s : sockets) {
      s.close();
    }
  }

  /** TCP connections open now (closed ones count until this side has seen the close). */
  public int openConnections() {
    return open.get();
  }

  /** Starts the peaks ({@link #peakOpenConnections()} and the request peaks) again from now. */
  public void resetPeaks() {
    peakOpen.set(open.get());
    peakServing.set(serving.get());
    peakServingNarinfo.set(servingNarinfo.get());
  }

  /** The most TCP connections that were open at once. */
  public int peakOpenConnections() {
    return peakOpen.get();
  }

  /** The most requests that were being answered at once (read, answer not yet written). */
  public int peakConcurrentRequests() {
    return peakServing.get();
  }

  /** As {@link #peakConcurrentRequests()}, counting only {@code .narinfo} requests. */
  public int peakConcurrentNarinfoRequests() {
    return peakServingNarinfo.get();
  }

  public int requestCount(String path) {
    return (int) requests.stream().filter(r -> r.path().equals(path)).count();
  }

  @Override
  public void close() throws IOException {
    closed.countDown();
    server.close();
    for (Socket s : sockets) {
      s.close();
    }
  }

  private void acceptLoop() {
    while (!server.isClosed()) {
      try {
        Socket s = server.accept();
        accepted.incrementAndGet();
        peakOpen.accumulateAndGet(open.incrementAndGet(), Math::max);
        sockets.add(s);
        Thread.ofVirtual().start(() -> serve(s));
      } catch (IOException e) {
        return;
      }
    }
  }

  private void serve(Socket s) {
    try (s) {
      InputStream in = new BufferedInputStream(s.getInputStream());
      OutputStream out = s.getOutputStream();
      while (true) {
        Request req = readRequest(in);
        if (req == null) {
          return;
        }
        requests.add(req);
        peakServing.accumulateAndGet(serving.incrementAndGet(), Math::max);
        boolean narinfo = req.path().endsWith(".narinfo");
        if (narinfo) {
          peakServingNarinfo.accumulateAndGet(servingNarinfo.incrementAndGet(), Math::max);
        }
        try {
          if (!answer(req, in, out)) {
            return;
          }
        } finally {
          serving.decrementAndGet();
          if (narinfo) {
            servingNarinfo.decrementAndGet();
          }
        }
      }
    } catch (IOException | InterruptedException e) {
      // client went away or server closed
    } finally {
      sockets.remove(s);
      open.decrementAndGet();
    }
  }

  /** Writes the answer; false when the connection must be closed afterwards. */
  private boolean answer(Request req, InputStream in, OutputStream out)
      throws IOException, InterruptedException {
    if (!latency.isZero()) {
      Thread.sleep(latency);
    }
    boolean head = req.method().equals("HEAD");
    Response r = forAll != null ? forAll : routes.getOrDefault(req.path(), Response.status(404));
    if (r.hang()) {
      // Until the test closes this upstream (the read then fails) or the client gives up (EOF).
      while (in.read() >= 0) {
        // a client does not send more on a connection whose request is unanswered; drop it if it
        // does
      }
      hangsEndedByPeer.incrementAndGet();
      return false;
    }
    if (head && refuseHead) {
      r = Response.status(405);
    }
    byte[] body = r.body();
    int status = r.status();
    String extra = "";
    String encoding = encodings.get(req.path());
    if (encoding != null) {
      extra = "Content-Encoding: " + encoding + "\r\n";
    }
    String wait = retryAfter;
    if (forAll != null && wait != null) {
      extra += "Retry-After: " + wait + "\r\n";
    }
    String range = req.headers().get("range");
    if (range != null && status == 200 && !rangeAs200 && range.matches("bytes=\\d+-")) {
      int from = Integer.parseInt(range.substring(6, range.length() - 1)) + (rangeOffByOne ? 1 : 0);
      if (from < body.length) {
        extra +=
            "Content-Range: bytes " + from + "-" + (body.length - 1) + "/" + body.length + "\r\n";
        body = Arrays.copyOfRange(body, from, body.length);
        status = 206;
      }
    }
    String head1 = "HTTP/1.1 " + status + " X\r\nContent-Type: " + r.type() + "\r\nContent-Length: "
        + body.length + "\r\nAccept-Ranges: bytes\r\n" + extra + "\r\n";
    byte[] headBytes = head1.getBytes(StandardCharsets.ISO_8859_1);
    if ((!head || bodyOnHead) && r.truncateAfter() < 0 && body.length <= 16 * 1024) {
      // A small answer in one write, as real servers send it: headers and body then arrive in
      // one segment (and one read on the proxy's side), which is where ordering bugs show.
      byte[] whole = Arrays.copyOf(headBytes, headBytes.length + body.length);
      System.arraycopy(body, 0, whole, headBytes.length, body.length);
      out.write(whole);
      bodyBytes.computeIfAbsent(req.path(), k -> new AtomicLong()).addAndGet(body.length);
      out.flush();
      return !"close".equalsIgnoreCase(req.headers().get("connection"));
    }
    if (chunked && !head && r.truncateAfter() < 0) {
      out.write(head1
          .replace("Content-Length: " + body.length, "Transfer-Encoding: chunked")
          .getBytes(StandardCharsets.ISO_8859_1));
      for (int off = 0; off < body.length; off += 64 * 1024) {
        int len = Math.min(64 * 1024, body.length - off);
        if (corruptChunk && off >= body.length / 2) {
          out.write("zz\r\n".getBytes(StandardCharsets.ISO_8859_1));
          out.flush();
          return false;
        }
        out.write((Integer.toHexString(len) + "\r\n").getBytes(StandardCharsets.ISO_8859_1));
        out.write(body, off, len);
        out.write("\r\n".getBytes(StandardCharsets.ISO_8859_1));
      }
      out.write("0\r\n\r\n".getBytes(StandardCharsets.ISO_8859_1));
      out.flush();
      return true;
    }
    out.write(headBytes);
    if (!head || bodyOnHead) {
      long n = r.truncateAfter() >= 0 ? Math.min(r.truncateAfter(), body.length) : body.length;
      writeBody(req.path(), out, body, (int) n);
      if (n < body.length) {
        out.flush();
        if (stallAtTruncation) {
          while (in.read() >= 0) {
            // hold the connection, sending nothing, until the peer gives up on it
          }
          hangsEndedByPeer.incrementAndGet();
        }
        return false;
      }
    }
    out.flush();
    return !"close".equalsIgnoreCase(req.headers().get("connection"));
  }

  private void writeBody(String path, OutputStream out, byte[] body, int n) throws IOException {
    AtomicLong count = bodyBytes.computeIfAbsent(path, k -> new AtomicLong());
    try {
      for (int off = 0; off < n; off += 64 * 1024) {
        int len = Math.min(64 * 1024, n - off);
        out.write(body, off, len);
        count.addAndGet(len);
      }
    } catch (IOException e) {
      bodiesCut.incrementAndGet();
      throw e;
    }
  }

  private static Request readRequest(InputStream in) throws IOException {
    ByteArrayOutputStream buf = new ByteArrayOutputStream();
    int state = 0;
    int c;
    while (state < 4 && (c = in.read()) >= 0) {
      buf.write(c);
      state = (c == '\r' && (state == 0 || state == 2)) || (c == '\n' && (state == 1 || state == 3))
          ? state + 1
          : 0;
      if (buf.size() > 64 * 1024) {
        return null;
      }
    }
    if (state < 4) {
      return null;
    }
    String[] lines = buf.toString(StandardCharsets.ISO_8859_1).split("\r\n");
    String[] first = lines[0].split(" ");
    if (first.length < 2) {
      return null;
    }
    Map<String, String> headers = new ConcurrentHashMap<>();
    for (int i = 1; i < lines.length; i++) {
      int colon = lines[i].indexOf(':');
      if (colon > 0) {
        headers.put(
            lines[i].substring(0, colon).trim().toLowerCase(Locale.ROOT),
            lines[i].substring(colon + 1).trim());
      }
    }
    String len = headers.get("content-length");
    if (len != null) {
      in.readNBytes(Integer.parseInt(len));
    }
    return new Request(first[0], first[1], headers);
  }
}

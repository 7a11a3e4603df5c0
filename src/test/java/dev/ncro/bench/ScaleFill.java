package dev.ncro.bench;

import java.io.BufferedInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.util.Locale;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Fills ncro with {@code n} routes for {@code bench/scale}: asks for the narinfo of route hashes
 * {@code 0..n-1} (see {@link #hash}) once each, over {@code connections} keep-alive connections,
 * each request a miss that ncro races and stores. Prints "answered SECONDS non200 COUNT" and exits
 * non-zero when a connection failed. (wrk cannot stop after a fixed number of requests.)
 *
 * <p>Usage: {@code java -cp ... dev.ncro.bench.ScaleFill PORT N CONNECTIONS}
 */
public final class ScaleFill {
  private static final String ALPHABET = "0123456789abcdfghijklmnpqrsvwxyz";

  private ScaleFill() {}

  /** The i-th route's hash: "s" and i in Nix base32, 31 digits (as bench/scale/hash.lua). */
  static String hash(long i) {
    char[] out = new char[32];
    out[0] = 's';
    for (int k = 31; k >= 1; k--) {
      out[k] = ALPHABET.charAt((int) (i % 32));
      i /= 32;
    }
    return new String(out);
  }

  public static void main(String[] args) throws Exception {
    int port = Integer.parseInt(args[0]);
    int n = Integer.parseInt(args[1]);
    int connections = Integer.parseInt(args[2]);
    AtomicInteger next = new AtomicInteger();
    AtomicLong non200 = new AtomicLong();
    AtomicInteger failed = new AtomicInteger();
    long t0 = System.nanoTime();
    Thread[] threads = new Thread[connections];
    for (int c = 0; c < connections; c++) {
      threads[c] = Thread.ofVirtual().start(() -> {
        try (Socket s = new Socket("127.0.0.1", port)) {
          s.setTcpNoDelay(true);
          OutputStream out = s.getOutputStream();
          InputStream in = new BufferedInputStream(s.getInputStream(), 16384);
          for (int i = next.getAndIncrement(); i < n; i = next.getAndIncrement()) {
            out.write(("GET /" + hash(i) + ".narinfo HTTP/1.1\r\nHost: ncro\r\n\r\n")
                .getBytes(StandardCharsets.US_ASCII));
            out.flush();
            if (readResponse(in) != 200) {
              non200.incrementAndGet();
            }
          }
        } catch (IOException e) {
          failed.incrementAndGet();
          System.err.println("connection failed: " + e);
        }
      });
    }
    for (Thread t : threads) {
      t.join();
    }
    System.out.printf(
        Locale.ROOT, "answered %.1f non200 %d%n", (System.nanoTime() - t0) / 1e9, non200.get());
    System.exit(failed.get() == 0 ? 0 : 1);
  }

  /** Reads one response (headers and a Content-Length body); returns its status. */
  private static int readResponse(InputStream in) throws IOException {
    String status = line(in);
    int code = Integer.parseInt(status.split(" ", 3)[1]);
    long length = 0;
    for (String h = line(in); !h.isEmpty(); h = line(in)) {
      if (h.regionMatches(true, 0, "content-length:", 0, 15)) {
        length = Long.parseLong(h.substring(15).trim());
      }
    }
    in.skipNBytes(length);
    return code;
  }

  private static String line(InputStream in) throws IOException {
    StringBuilder sb = new StringBuilder();
    for (int b = in.read(); b != '\n'; b = in.read()) {
      if (b < 0) {
        throw new IOException("connection closed mid-response");
      }
      if (b != '\r') {
        sb.append((char) b);
      }
    }
    return sb.toString();
  }
}

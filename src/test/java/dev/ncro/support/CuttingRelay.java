package dev.ncro.support;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;

/**
 * A TCP relay on loopback in front of a server that cannot be told to fail (S3Proxy): once
 * {@link #cutAfter armed}, the next answer bytes it relays are counted, and the connection that
 * carries the Nth is closed on both sides after it: a download broken midway, as by a network
 * fault. Unarmed, it relays faithfully.
 */
public final class CuttingRelay implements AutoCloseable {
  private final ServerSocket server;
  private final InetSocketAddress target;
  private final AtomicLong remaining = new AtomicLong(-1);
  private final Set<Socket> open = ConcurrentHashMap.newKeySet();

  private CuttingRelay(ServerSocket server, InetSocketAddress target) {
    this.server = server;
    this.target = target;
    Thread.ofVirtual().name("cutting-relay-accept").start(this::accept);
  }

  public static CuttingRelay start(InetSocketAddress target) throws IOException {
    return new CuttingRelay(new ServerSocket(0, 50, InetAddress.getLoopbackAddress()), target);
  }

  /** {@code 127.0.0.1:PORT}. */
  public String hostPort() {
    return "127.0.0.1:" + server.getLocalPort();
  }

  /** From now on, cut the connection that relays the {@code bytes}-th answer byte. */
  public void cutAfter(long bytes) {
    remaining.set(bytes);
  }

  private void accept() {
    while (!server.isClosed()) {
      try {
        Socket client = server.accept();
        Socket upstream = new Socket(target.getAddress(), target.getPort());
        open.add(client);
        open.add(upstream);
        Thread.ofVirtual().start(() -> pump(client, upstream, false));
        Thread.ofVirtual().start(() -> pump(upstream, client, true));
      } catch (IOException e) {
        return; // closed
      }
    }
  }

  private void pump(Socket from, Socket to, boolean answers) {
    byte[] buf = new byte[64 * 1024];
    try (InputStream in = from.getInputStream();
        OutputStream out = to.getOutputStream()) {
      int n;
      while ((n = in.read(buf)) > 0) {
        long left = answers ? remaining.get() : -1;
        if (left >= 0 && n >= left) {
          remaining.set(-1);
          out.write(buf, 0, (int) left);
          out.flush();
          break; // cut: both sockets close below
        }
        if (left >= 0) {
          remaining.addAndGet(-n);
        }
        out.write(buf, 0, n);
        out.flush();
      }
    } catch (IOException ignored) {
      // the other side closed
    } finally {
      closeQuietly(from);
      closeQuietly(to);
    }
  }

  private void closeQuietly(Socket s) {
    open.remove(s);
    try {
      s.close();
    } catch (IOException ignored) {
      // closing anyway
    }
  }

  @Override
  public void close() throws IOException {
    server.close();
    open.forEach(this::closeQuietly);
  }
}

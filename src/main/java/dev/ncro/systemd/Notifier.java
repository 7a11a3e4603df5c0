package dev.ncro.systemd;

import io.netty.channel.epoll.Epoll;
import io.netty.channel.unix.Socket;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Sends sd_notify(3) states ({@code READY=1}, {@code STOPPING=1}, {@code WATCHDOG=1}) to systemd's
 * {@code NOTIFY_SOCKET}, a unix datagram socket.
 *
 * <p>The JDK cannot do this: Java 21's unix-domain support ({@code UnixDomainSocketAddress}) is
 * for stream channels only, and {@code DatagramChannel.open(StandardProtocolFamily.UNIX)} throws
 * {@code UnsupportedOperationException}. The Maven Central libraries for the protocol
 * (SDNotify, jsystemd) reach libc through JNA, a further 1.8 MiB jar. Netty, already
 * ncro's network layer, has unix datagram sockets in its native epoll transport: a datagram
 * socket and one {@code sendto} per state is all the protocol needs.
 */
public final class Notifier implements AutoCloseable {
  private static final Logger log = LoggerFactory.getLogger(Notifier.class);

  /** Sends nothing: not started by systemd with {@code Type=notify}. */
  public static final Notifier NONE = new Notifier(null, null, null);

  private final Socket socket;
  private final byte[] address;
  private final String name;

  private Notifier(Socket socket, byte[] address, String name) {
    this.socket = socket;
    this.address = address;
    this.name = name;
  }

  /**
   * A notifier for {@code NOTIFY_SOCKET} {@code path} (a leading {@code @} is the abstract
   * namespace), or {@link #NONE} when path is null. Fails when the epoll transport is missing:
   * systemd would otherwise wait for a readiness that never comes.
   */
  public static Notifier open(String path) throws IOException {
    if (path == null) {
      return NONE;
    }
    if (!Epoll.isAvailable()) {
      throw new IOException("NOTIFY_SOCKET is set but netty's epoll transport is unavailable ("
          + Epoll.unavailabilityCause() + "): cannot tell systemd that ncro is ready");
    }
    byte[] address = path.startsWith("@")
        ? ("\0" + path.substring(1)).getBytes(StandardCharsets.UTF_8)
        : path.getBytes(StandardCharsets.UTF_8);
    return new Notifier(Socket.newSocketDomainDgram(), address, path);
  }

  /** Everything is up: systemd starts the units ordered after ncro. */
  public void ready(String status) {
    send("READY=1\nSTATUS=" + status);
  }

  public void stopping() {
    send("STOPPING=1\nSTATUS=shutting down");
  }

  public void watchdog() {
    send("WATCHDOG=1");
  }

  /** Sends one datagram; a failure is logged, never thrown (systemd's own timeouts then act). */
  public synchronized void send(String state) {
    if (socket == null || !socket.isOpen()) {
      return;
    }
    byte[] bytes = state.getBytes(StandardCharsets.UTF_8);
    ByteBuffer buf = ByteBuffer.allocateDirect(bytes.length).put(bytes).flip();
    try {
      int sent = socket.sendToDomainSocket(buf, 0, bytes.length, address);
      if (sent != bytes.length) {
        throw new IOException("sent " + sent + " of " + bytes.length + " bytes");
      }
    } catch (IOException e) {
      log.atWarn()
          .setMessage("could not notify systemd")
          .addKeyValue("socket", name)
          .addKeyValue("state", state.lines().findFirst().orElse(""))
          .addKeyValue("error", e.getMessage())
          .log();
    }
  }

  @Override
  public synchronized void close() {
    if (socket != null && socket.isOpen()) {
      try {
        socket.close();
      } catch (IOException ignored) {
        // nothing left to tell systemd
      }
    }
  }
}

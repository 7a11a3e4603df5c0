package dev.ncro.systemd;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.ncro.support.Await;
import dev.ncro.support.TestNarinfo;
import dev.ncro.support.TestUpstream;
import io.netty.bootstrap.Bootstrap;
import io.netty.channel.Channel;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.SimpleChannelInboundHandler;
import io.netty.channel.epoll.Epoll;
import io.netty.channel.epoll.EpollDomainDatagramChannel;
import io.netty.channel.epoll.EpollIoHandler;
import io.netty.channel.unix.DomainDatagramPacket;
import io.netty.channel.unix.DomainSocketAddress;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.net.DatagramSocket;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.SocketException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * ncro as systemd runs it, in a child JVM: socket activation under Debian's real
 * {@code systemd-socket-activate}, and the sd_notify protocol received on a real unix datagram
 * socket, as systemd's manager would receive it.
 */
class SystemdIT {
  private static final String HASH = TestNarinfo.hash(77);

  /**
   * systemd-socket-activate binds the port, and starts ncro only when the first client connects
   * (as a .socket unit does): the client's request waits in the backlog and is answered by ncro
   * through the inherited descriptor, with {@code server.listen} empty.
   */
  @Test
  void servesTheSocketSystemdHandsOver(@TempDir Path dir) throws Exception {
    Path activate = tool("systemd-socket-activate");
    try (TestUpstream up = TestUpstream.start()) {
      up.putNarinfo(HASH, TestNarinfo.make(HASH, "nar/a.nar", 64, null));
      Path cfg = config(dir, up, "\"\"", "");
      int port = freeTcpPort();
      List<String> cmd =
          new ArrayList<>(List.of(activate.toString(), "--listen=127.0.0.1:" + port));
      cmd.addAll(ncroCommand(cfg));
      Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
      List<String> log = collect(p);
      try {
        Await.until("systemd-socket-activate listening on " + port, () -> connects(port));
        assertThat(log)
            .noneMatch(l -> l.contains("ncro listening")); // not started before a client came
        HttpClient http =
            HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();
        HttpResponse<String> r = http.send(
            HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + "/" + HASH + ".narinfo"))
                .timeout(Duration.ofSeconds(60))
                .build(),
            HttpResponse.BodyHandlers.ofString());
        assertThat(r.statusCode()).as(String.join("\n", log)).isEqualTo(200);
        assertThat(r.body()).contains("StorePath:");
        assertThat(r.headers().firstValue("X-Ncro-Route")).contains("race");
        assertThat(log)
            .anyMatch(l -> l.contains("ncro listening")
                && l.contains("socket_activated=\"true\"")
                && l.contains(":" + port));
        p.toHandle().destroy(); // SIGTERM reaches ncro: systemd-socket-activate exec'd it
        assertThat(p.waitFor(20, TimeUnit.SECONDS)).isTrue();
        Await.until(
            "ncro's orderly stop in its log",
            () -> log.stream().anyMatch(l -> l.contains("ncro stopped")));
      } finally {
        p.destroyForcibly();
      }
    }
  }

  /** {@code listen: ""} without a socket from systemd is refused with a clear reason. */
  @Test
  void emptyListenWithoutSocketActivationFails(@TempDir Path dir) throws Exception {
    try (TestUpstream up = TestUpstream.start()) {
      Process p = new ProcessBuilder(ncroCommand(config(dir, up, "\"\"", "")))
          .redirectErrorStream(true)
          .start();
      String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
      assertThat(p.waitFor(30, TimeUnit.SECONDS)).isTrue();
      assertThat(p.exitValue()).isEqualTo(1);
      assertThat(out).contains("server.listen is empty", "LISTEN_FDS");
    }
  }

  /**
   * READY=1 comes only once the HTTP port answers, the route database exists and the mesh UDP
   * port is bound; WATCHDOG=1 follows at half WATCHDOG_USEC; SIGTERM sends STOPPING=1 first.
   */
  @Test
  void notifiesReadinessWatchdogAndStopping(@TempDir Path dir) throws Exception {
    assumeTrue(Epoll.isAvailable(), "netty epoll transport unavailable");
    EventLoopGroup group = new MultiThreadIoEventLoopGroup(1, EpollIoHandler.newFactory());
    Path socket = dir.resolve("notify.sock");
    List<String> received = new CopyOnWriteArrayList<>();
    try (TestUpstream up = TestUpstream.start()) {
      Channel ch = new Bootstrap()
          .group(group)
          .channel(EpollDomainDatagramChannel.class)
          .handler(new SimpleChannelInboundHandler<DomainDatagramPacket>() {
            @Override
            protected void channelRead0(ChannelHandlerContext ctx, DomainDatagramPacket msg) {
              received.add(msg.content().toString(StandardCharsets.UTF_8));
            }
          })
          .bind(new DomainSocketAddress(socket.toFile()))
          .sync()
          .channel();
      int port = freeTcpPort();
      int meshPort = freeUdpPort();
      Path cfg = config(dir, up, "\"127.0.0.1:" + port + "\"", """
          mesh:
            enabled: true
            bind_addr: "127.0.0.1:%d"
            private_key: ""
          """.formatted(meshPort));
      ProcessBuilder pb = new ProcessBuilder(ncroCommand(cfg)).redirectErrorStream(true);
      pb.environment().put("NOTIFY_SOCKET", socket.toString());
      pb.environment().put("WATCHDOG_USEC", "400000"); // a ping every 200 ms
      Process p = pb.start();
      List<String> log = collect(p);
      try {
        Await.until("READY=1", () -> !received.isEmpty() || !p.isAlive());
        // Checked the moment READY=1 is in: everything it promises is already true.
        boolean answers = connects(port);
        boolean meshBound = !udpBindable(meshPort);
        boolean dbExists = Files.exists(dir.resolve("routes.db"));
        assertThat(received.get(0))
            .as(String.join("\n", log))
            .startsWith("READY=1\n")
            .contains("STATUS=serving on");
        assertThat(answers).as("the HTTP port answers when READY=1 arrives").isTrue();
        assertThat(meshBound)
            .as("the mesh UDP port is bound when READY=1 arrives")
            .isTrue();
        assertThat(dbExists)
            .as("the route database is open when READY=1 arrives")
            .isTrue();

        Await.until(
            "three watchdog pings",
            () -> received.stream().filter("WATCHDOG=1"::equals).count() >= 3);
        assertThat(received.stream().filter(m -> m.startsWith("READY=1")).count())
            .isEqualTo(1);

        p.toHandle().destroy();
        assertThat(p.waitFor(20, TimeUnit.SECONDS)).isTrue();
        Await.until(
            "STOPPING=1", () -> received.stream().anyMatch(m -> m.startsWith("STOPPING=1")));
        int stopping = indexOf(received, "STOPPING=1");
        assertThat(received.subList(stopping + 1, received.size()))
            .noneMatch(m -> m.startsWith("READY=1"));
        System.out.printf(
            "sd_notify messages: %d (READY, %d WATCHDOG, STOPPING)%n",
            received.size(), received.stream().filter("WATCHDOG=1"::equals).count());
      } finally {
        p.destroyForcibly();
        ch.close().sync();
      }
    } finally {
      group.shutdownGracefully(0, 1, TimeUnit.SECONDS).syncUninterruptibly();
    }
  }

  private static int indexOf(List<String> messages, String prefix) {
    for (int i = 0; i < messages.size(); i++) {
      if (messages.get(i).startsWith(prefix)) {
        return i;
      }
    }
    return -1;
  }

  private static Path config(Path dir, TestUpstream up, String listen, String extra)
      throws IOException {
    Path cfg = dir.resolve("ncro.yaml");
    Files.writeString(cfg, """
        server:
          listen: %s
        upstreams:
          - url: "%s"
        cache:
          db_path: "%s"
        logging:
          format: text
        %s""".formatted(listen, up.uri(), dir.resolve("routes.db"), extra));
    return cfg;
  }

  private static List<String> ncroCommand(Path cfg) {
    String java = ProcessHandle.current().info().command().orElse("java");
    return List.of(
        java,
        "-Xmx256m",
        "--enable-native-access=ALL-UNNAMED",
        "-cp",
        System.getProperty("java.class.path"),
        "dev.ncro.Main",
        "--config",
        cfg.toString());
  }

  private static List<String> collect(Process p) {
    List<String> log = new CopyOnWriteArrayList<>();
    Thread.ofVirtual()
        .start(() -> new BufferedReader(
                new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8))
            .lines()
            .forEach(log::add));
    return log;
  }

  private static boolean connects(int port) {
    try (Socket s = new Socket()) {
      s.connect(new InetSocketAddress(InetAddress.getLoopbackAddress(), port), 1000);
      return true;
    } catch (IOException e) {
      return false;
    }
  }

  private static boolean udpBindable(int port) {
    try (DatagramSocket s =
        new DatagramSocket(new InetSocketAddress(InetAddress.getLoopbackAddress(), port))) {
      return true;
    } catch (SocketException e) {
      return false;
    }
  }

  private static int freeTcpPort() throws IOException {
    try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
      return s.getLocalPort();
    }
  }

  private static int freeUdpPort() throws IOException {
    try (DatagramSocket s = new DatagramSocket(0, InetAddress.getLoopbackAddress())) {
      return s.getLocalPort();
    }
  }

  private static Path tool(String name) {
    Path found = Stream.concat(
            Stream.of(System.getenv().getOrDefault("PATH", "").split(":")),
            Stream.of("/usr/bin", "/bin", "/usr/sbin"))
        .filter(d -> !d.isEmpty())
        .map(d -> Path.of(d, name))
        .filter(Files::isExecutable)
        .findFirst()
        .orElse(null);
    assertThat(found)
        .as("%s not found: install Debian's systemd package (bin/test does)", name)
        .isNotNull();
    return found;
  }
}

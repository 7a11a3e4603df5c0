package dev.ncro.support;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.net.InetSocketAddress;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

/**
 * {@link DelayRelay}s in a JVM of their own, for benchmarks: in ncro's JVM, a garbage collection
 * pause or a busy core stalls the relays too, and the emulated network then delays and reorders
 * answers that a real one would not. Here only the kernel's scheduler is shared.
 */
public final class DelayRelayProcess implements AutoCloseable {
  private final Process process;
  private final List<URI> uris;

  private DelayRelayProcess(Process process, List<URI> uris) {
    this.process = process;
    this.uris = uris;
  }

  /** One relay per RTT, each to the same {@code target}; {@link #uris()} in the same order. */
  public static DelayRelayProcess start(InetSocketAddress target, List<Duration> rtts)
      throws IOException {
    List<String> cmd = new ArrayList<>(List.of(
        ProcessHandle.current().info().command().orElse("java"),
        "-Xmx64m",
        "-XX:+UseSerialGC",
        "-cp",
        System.getProperty("java.class.path"),
        DelayRelayProcess.class.getName(),
        target.getHostString() + ":" + target.getPort()));
    rtts.forEach(r -> cmd.add(Long.toString(r.toMillis())));
    Process p =
        new ProcessBuilder(cmd).redirectError(ProcessBuilder.Redirect.INHERIT).start();
    BufferedReader out =
        new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8));
    List<URI> uris = new ArrayList<>();
    for (int i = 0; i < rtts.size(); i++) {
      String line = out.readLine();
      if (line == null) {
        p.destroyForcibly();
        throw new IOException("relay process ended before announcing its ports");
      }
      uris.add(URI.create(line.strip()));
    }
    return new DelayRelayProcess(p, uris);
  }

  public List<URI> uris() {
    return uris;
  }

  @Override
  public void close() {
    process.destroy();
  }

  /** {@code host:port rttMs...}: prints each relay's URI, one a line, then relays until killed. */
  public static void main(String[] args) throws Exception {
    String[] hp = args[0].split(":");
    InetSocketAddress target = new InetSocketAddress(hp[0], Integer.parseInt(hp[1]));
    for (int i = 1; i < args.length; i++) {
      DelayRelay r = DelayRelay.start(target, Duration.ofMillis(Long.parseLong(args[i])));
      System.out.println(r.uri());
    }
    System.out.flush();
    Thread.currentThread().join();
  }
}

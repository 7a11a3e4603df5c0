package dev.ncro.support;

import static org.junit.jupiter.api.Assumptions.abort;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * A network namespace of the test's own ({@code unshare -n}; {@code -rn}, a user namespace too,
 * when not root) whose loopback is up and carries multicast (a route for 224.0.0.0/4), so mDNS
 * between processes in it stays in it. A holder process keeps it alive until {@link #close()};
 * {@link #wrap(List)} runs a command inside it ({@code nsenter}). Aborts the test (an assumption)
 * only where namespaces cannot be made at all.
 */
public final class NetNamespace implements AutoCloseable {
  private static final boolean ROOT = System.getProperty("user.name").equals("root");
  private final Process holder;

  private NetNamespace(Process holder) {
    this.holder = holder;
  }

  public static NetNamespace create() throws IOException, InterruptedException {
    List<String> cmd = List.of(
        "unshare",
        ROOT ? "-n" : "-rn",
        "sh",
        "-c",
        "ip link set lo up multicast on && ip route add 224.0.0.0/4 dev lo && echo ready && exec cat");
    Process p;
    try {
      p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
    } catch (IOException e) {
      abort("cannot run unshare (util-linux) here: " + e.getMessage());
      throw e;
    }
    BufferedReader out =
        new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8));
    String first = out.readLine();
    if (!"ready".equals(first)) {
      p.destroyForcibly();
      p.waitFor(5, TimeUnit.SECONDS);
      abort("network namespaces are not available here (" + String.join(" ", cmd) + " said: "
          + first + ")");
    }
    return new NetNamespace(p);
  }

  /** {@code command}, run inside the namespace. */
  public List<String> wrap(List<String> command) {
    String ns = "/proc/" + holder.pid() + "/ns/";
    List<String> out = new ArrayList<>(List.of("nsenter", "--net=" + ns + "net"));
    if (!ROOT) {
      out.addAll(List.of("--user=" + ns + "user", "--preserve-credentials"));
    }
    out.addAll(command);
    return out;
  }

  /** An HTTP answer as curl got it inside the namespace. */
  public record Response(int status, String headers, byte[] body) {
    public String text() {
      return new String(body, StandardCharsets.UTF_8);
    }

    /** A response header's value (the first), or null. */
    public String header(String name) {
      return headers
          .lines()
          .filter(l -> l.regionMatches(true, 0, name + ":", 0, name.length() + 1))
          .map(l -> l.substring(name.length() + 1).strip())
          .findFirst()
          .orElse(null);
    }
  }

  /** GET {@code url} with curl inside the namespace. */
  public Response get(String url) throws IOException, InterruptedException {
    Path body = Files.createTempFile("ncro-ns", ".body");
    Path headers = Files.createTempFile("ncro-ns", ".headers");
    try {
      NixFixture.Result r = NixFixture.exec(
          wrap(List.of(
              "curl",
              "-sS",
              "-o",
              body.toString(),
              "-D",
              headers.toString(),
              "-w",
              "%{http_code}",
              url)),
          System.getenv(),
          Duration.ofSeconds(30));
      if (r.exitCode() != 0) {
        throw new IOException("curl " + url + " failed (exit " + r.exitCode() + "): " + r.stderr());
      }
      return new Response(
          Integer.parseInt(r.stdout().strip()),
          Files.readString(headers),
          Files.readAllBytes(body));
    } finally {
      Files.deleteIfExists(body);
      Files.deleteIfExists(headers);
    }
  }

  @Override
  public void close() throws InterruptedException {
    try {
      holder.getOutputStream().close(); // the holder's cat ends
    } catch (IOException e) {
      // gone already
    }
    holder.destroyForcibly();
    holder.waitFor(10, TimeUnit.SECONDS);
  }
}

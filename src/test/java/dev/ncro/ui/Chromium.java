package dev.ncro.ui;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.net.http.WebSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Base64;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.BooleanSupplier;
import java.util.function.Supplier;

/**
 * Headless Chromium (Debian's {@code chromium}) driven over the DevTools protocol with the JDK's own
 * WebSocket client: launch on a page, evaluate JavaScript in it, take screenshots. Just enough CDP for
 * a test; no Node, no driver download.
 */
final class Chromium implements AutoCloseable {
  static final Path BINARY = Path.of(System.getProperty("ncro.chromium", "/usr/bin/chromium"));
  private static final ObjectMapper JSON = new ObjectMapper();
  private final Process process;
  private final WebSocket ws;
  private final AtomicInteger ids = new AtomicInteger();
  private final Map<Integer, CompletableFuture<JsonNode>> pending = new ConcurrentHashMap<>();

  /** Starts Chromium on {@code url} with a fresh profile in {@code profile}, 1280×800. */
  static Chromium open(URI url, Path profile) throws Exception {
    if (!Files.isExecutable(BINARY)) {
      throw new AssertionError("headless Chromium not found at " + BINARY
          + ": install the Debian package `chromium` (apt-get install -y chromium)");
    }
    Files.createDirectories(profile);
    Path log = profile.resolve("chromium.log");
    Process p = new ProcessBuilder(
            BINARY.toString(),
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
            "--window-size=1280,800",
            "--remote-debugging-port=0",
            "--user-data-dir=" + profile,
            url.toString())
        .redirectErrorStream(true)
        .redirectOutput(log.toFile())
        .start();
    try {
      Path portFile = profile.resolve("DevToolsActivePort");
      await(
          () -> Files.exists(portFile) && lines(portFile).size() >= 2 || !p.isAlive(),
          Duration.ofSeconds(20),
          () -> "Chromium did not open its DevTools port; its log:\n" + read(log));
      if (!p.isAlive()) {
        throw new AssertionError(
            "Chromium exited with " + p.exitValue() + "; its log:\n" + read(log));
      }
      int port = Integer.parseInt(lines(portFile).get(0).trim());
      HttpClient http = HttpClient.newHttpClient();
      String[] target = new String[1];
      await(
          () -> (target[0] = pageTarget(http, port)) != null,
          Duration.ofSeconds(10),
          () -> "no page target");
      Chromium c = new Chromium(p, http, URI.create(target[0]));
      c.send(
          "Emulation.setDeviceMetricsOverride",
          JSON.createObjectNode()
              .put("width", 1280)
              .put("height", 800)
              .put("deviceScaleFactor", 1)
              .put("mobile", false));
      return c;
    } catch (Throwable t) {
      p.destroyForcibly();
      throw t;
    }
  }

  private Chromium(Process process, HttpClient http, URI target) {
    this.process = process;
    this.ws = http.newWebSocketBuilder()
        .buildAsync(target, new WebSocket.Listener() {
          private final StringBuilder buf = new StringBuilder();

          @Override
          public CompletionStage<?> onText(WebSocket w, CharSequence data, boolean last) {
            buf.append(data);
            if (last) {
              try {
                JsonNode msg = JSON.readTree(buf.toString());
                CompletableFuture<JsonNode> f =
                    msg.has("id") ? pending.remove(msg.get("id").asInt()) : null;
                if (f != null) {
                  f.complete(msg);
                }
              } catch (Exception e) {
                pending.values().forEach(f -> f.completeExceptionally(e));
              }
              buf.setLength(0);
            }
            w.request(1);
            return null;
          }
        })
        .join();
  }

  /** Sends one CDP command on the page session and returns its {@code result}. */
  JsonNode send(String method, ObjectNode params) throws Exception {
    int id = ids.incrementAndGet();
    CompletableFuture<JsonNode> answer = new CompletableFuture<>();
    pending.put(id, answer);
    ObjectNode msg = JSON.createObjectNode().put("id", id).put("method", method);
    msg.set("params", params);
    ws.sendText(JSON.writeValueAsString(msg), true).join();
    JsonNode reply = answer.get(20, TimeUnit.SECONDS);
    if (reply.has("error")) {
      throw new IllegalStateException(method + ": " + reply.get("error"));
    }
    return reply.get("result");
  }

  /** Evaluates a JavaScript expression in the page (promises awaited) and returns its JSON value. */
  JsonNode eval(String expression) throws Exception {
    JsonNode r = send(
        "Runtime.evaluate",
        JSON.createObjectNode()
            .put("expression", expression)
            .put("returnByValue", true)
            .put("awaitPromise", true));
    if (r.has("exceptionDetails")) {
      throw new IllegalStateException(
          "JavaScript failed: " + expression + "\n" + r.get("exceptionDetails"));
    }
    return r.at("/result/value");
  }

  /** Waits until a JavaScript expression is true in the page; the failure shows {@code context} evaluated. */
  void waitFor(String condition, Duration timeout, String context) throws Exception {
    long deadline = System.nanoTime() + timeout.toNanos();
    while (!eval("!!(" + condition + ")").asBoolean()) {
      if (System.nanoTime() > deadline) {
        throw new AssertionError("timed out after " + timeout + " waiting for: " + condition
            + "\npage: " + eval(context));
      }
      Thread.sleep(100);
    }
  }

  /** A PNG of the viewport. */
  byte[] screenshot() throws Exception {
    JsonNode r = send("Page.captureScreenshot", JSON.createObjectNode().put("format", "png"));
    return Base64.getDecoder().decode(r.get("data").asText());
  }

  @Override
  public void close() throws Exception {
    ws.abort();
    // Chromium's helpers (renderer, zygote, GPU) may outlive the browser process and keep writing
    // to the profile, which then fails the test's temp-dir clean-up: end them all, and wait.
    List<ProcessHandle> helpers = process.descendants().toList();
    process.destroy();
    if (!process.waitFor(5, TimeUnit.SECONDS)) {
      process.destroyForcibly().waitFor(5, TimeUnit.SECONDS);
    }
    for (ProcessHandle h : helpers) {
      h.destroyForcibly();
      try {
        h.onExit().get(5, TimeUnit.SECONDS);
      } catch (TimeoutException | ExecutionException e) {
        // gone or stuck: the temp-dir clean-up will say so
      }
    }
  }

  private static String pageTarget(HttpClient http, int port) {
    try {
      JsonNode list = JSON.readTree(http.send(
              HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + "/json/list"))
                  .build(),
              HttpResponse.BodyHandlers.ofString())
          .body());
      for (JsonNode t : list) {
        if (t.path("type").asText().equals("page") && t.has("webSocketDebuggerUrl")) {
          return t.get("webSocketDebuggerUrl").asText();
        }
      }
      return null;
    } catch (Exception e) {
      return null;
    }
  }

  private static void await(BooleanSupplier done, Duration timeout, Supplier<String> why)
      throws InterruptedException {
    long deadline = System.nanoTime() + timeout.toNanos();
    while (!done.getAsBoolean()) {
      if (System.nanoTime() > deadline) {
        throw new AssertionError(why.get());
      }
      Thread.sleep(50);
    }
  }

  private static List<String> lines(Path p) {
    try {
      return Files.readAllLines(p);
    } catch (Exception e) {
      return List.of();
    }
  }

  private static String read(Path p) {
    try {
      return Files.readString(p);
    } catch (Exception e) {
      return "(no log: " + e + ")";
    }
  }
}

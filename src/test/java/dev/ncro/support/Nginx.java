package dev.ncro.support;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.function.BiFunction;

/**
 * A real nginx ({@code /usr/sbin/nginx}, Debian package {@code nginx}) on a loopback port, serving a
 * binary cache directory as static files, or answering one status to everything.
 *
 * <p>Why nginx rather than a test server: most binary caches in the wild are static files behind
 * nginx or a CDN, with its keep-alive, {@code Accept-Ranges}, ETag and sendfile behaviour; ncro
 * should be tested against that, not only against servers written for its tests.
 *
 * <p>Runs in the foreground in a private prefix (config, pid, logs, temp dirs), one process. The
 * access log has one line per request: {@code METHOD URI STATUS BYTES "RANGE" TIME CONNECTION REQUEST-ON-CONNECTION
 * RAW-URI "ACCEPT-ENCODING"} ({@code URI} decoded by nginx, {@code RAW-URI} as the client sent it).
 */
public final class Nginx implements AutoCloseable {
  public static final Path BINARY = Path.of("/usr/sbin/nginx");
  private static final Path STREAM_MODULE = Path.of("/usr/lib/nginx/modules/ngx_stream_module.so");

  private final Process process;
  private final Path prefix;
  private final int port;
  private final Thread killAtExit;

  private Nginx(Process process, Path prefix, int port) {
    this.process = process;
    this.prefix = prefix;
    this.port = port;
    // A JVM that ends without close() (a crashed main, a failed test run) must not leave nginx
    // behind.
    this.killAtExit = new Thread(() -> {
      try {
        process.destroyForcibly().waitFor(2, TimeUnit.SECONDS);
      } catch (InterruptedException ignored) {
        // exiting anyway
      }
      ChildProcesses.deleteTree(prefix);
    });
    Runtime.getRuntime().addShutdownHook(killAtExit);
  }

  /** Serves {@code root} as static files. */
  public static Nginx serve(Path root) throws IOException, InterruptedException {
    return start("root " + root.toAbsolutePath() + ";\n      location / { }");
  }

  /**
   * Serves {@code root} as static files, with {@code locations} (nginx {@code location} blocks)
   * for special cases, e.g. a {@code Content-Encoding} header on files stored compressed, as S3 does.
   */
  public static Nginx serve(Path root, String locations) throws IOException, InterruptedException {
    return start("root " + root.toAbsolutePath() + ";\n      location / { }\n      " + locations);
  }

  /** Answers {@code status} to every request (a cache that is up but broken). */
  public static Nginx failing(int status) throws IOException, InterruptedException {
    return start("location / { return " + status + " \"failing on purpose\\n\"; }");
  }

  /**
   * Serves a valid {@code /nix-cache-info} but answers {@code status} to everything else: a cache
   * whose front end is up and whose storage is not. Nix, once it has the cache info, treats such a
   * cache like any failing one (a cache failing on {@code nix-cache-info} is skipped instead).
   */
  public static Nginx failingLookups(int status) throws IOException, InterruptedException {
    return start(
        "location = /nix-cache-info { default_type text/plain; return 200 \"StoreDir: /nix/store\\nWantMassQuery: 1\\n\"; }\n"
            + "      location / { return " + status + " \"failing on purpose\\n\"; }");
  }

  /**
   * HTTPS with {@code cert} on the port, and {@code server} as the rest of the server block
   * ({@code {prefix}} in it is replaced by the instance's private directory). For private, HTTPS and
   * redirecting caches (auth_basic, Bearer checks, returns with a Location).
   */
  public static Nginx tls(TestCa.ServerCert cert, String server)
      throws IOException, InterruptedException {
    return start(
        " ssl",
        "ssl_certificate " + cert.cert() + ";\n      ssl_certificate_key " + cert.key()
            + ";\n      " + server);
  }

  /** Plain HTTP with a custom server block, as {@link #tls}. */
  public static Nginx custom(String server) throws IOException, InterruptedException {
    return start("", server);
  }

  private static Nginx start(String server) throws IOException, InterruptedException {
    return start("", server);
  }

  /**
   * A TLS terminator (nginx's stream module) in front of {@code backendPort}, as in front of a
   * proxy that itself speaks only plain TCP: an {@code https://} forward proxy is tinyproxy behind
   * this. Needs the Debian package libnginx-mod-stream.
   */
  public static Nginx tlsStream(TestCa.ServerCert cert, int backendPort)
      throws IOException, InterruptedException {
    if (!Files.exists(STREAM_MODULE)) {
      throw new IllegalStateException(STREAM_MODULE
          + " not found: install the Debian package libnginx-mod-stream (apt-get install -y"
          + " libnginx-mod-stream)");
    }
    return start((prefix, port) -> "load_module " + STREAM_MODULE + ";\n" + process(prefix)
        + """
        stream {
          log_format ncro '$remote_addr $status $bytes_sent $bytes_received $ssl_server_name';
          access_log %1$s/access.log ncro;
          server {
            listen 127.0.0.1:%2$d ssl;
            ssl_certificate %3$s;
            ssl_certificate_key %4$s;
            proxy_pass 127.0.0.1:%5$d;
          }
        }
        """.formatted(prefix, port, cert.cert(), cert.key(), backendPort));
  }

  private static Nginx start(String listenOptions, String server)
      throws IOException, InterruptedException {
    return start((prefix, port) ->
        config(prefix, port, listenOptions, server.replace("{prefix}", prefix.toString())));
  }

  /** Starts nginx on a free port with the configuration {@code config} gives for its prefix and port. */
  private static Nginx start(BiFunction<Path, Integer, String> config)
      throws IOException, InterruptedException {
    if (!Files.isExecutable(BINARY)) {
      throw new IllegalStateException(
          BINARY + " not found: install the Debian package nginx (apt-get install -y nginx)");
    }
    Path prefix = Files.createTempDirectory("ncro-nginx");
    Files.createDirectories(prefix.resolve("tmp"));
    IOException last = null;
    for (int attempt = 0; attempt < 5; attempt++) {
      int port = ChildProcesses.freeLoopbackPort();
      Files.writeString(prefix.resolve("nginx.conf"), config.apply(prefix, port));
      Files.deleteIfExists(prefix.resolve("error.log"));
      Process p = new ProcessBuilder(
              BINARY.toString(),
              "-p",
              prefix + "/",
              "-c",
              prefix.resolve("nginx.conf").toString(),
              "-e",
              prefix.resolve("error.log").toString())
          .redirectErrorStream(true)
          .redirectOutput(prefix.resolve("stdout.log").toFile())
          .start();
      if (awaitListening(p, port)) {
        return new Nginx(p, prefix, port);
      }
      p.destroyForcibly().waitFor();
      String log = Files.exists(prefix.resolve("error.log"))
          ? Files.readString(prefix.resolve("error.log"))
          : "";
      last = new IOException("nginx did not start on port " + port + ":\n" + log
          + Files.readString(prefix.resolve("stdout.log")));
      if (!log.contains("Address already in use")) {
        break;
      }
    }
    ChildProcesses.deleteTree(prefix);
    throw last;
  }

  private static String config(Path prefix, int port, String listenOptions, String server) {
    String tmp = prefix.resolve("tmp").toString();
    return process(prefix) + """
        http {
          types { text/x-nix-narinfo narinfo; text/plain nix-cache-info; }
          default_type application/octet-stream;
          log_format ncro '$request_method $uri $status $body_bytes_sent "$http_range" $msec $connection $connection_requests $request_uri "$http_accept_encoding"';
          access_log %1$s/access.log ncro;
          # Whether each request carried credentials (and which scheme), never the secret itself:
          # tests check that a redirect target never receives them.
          map $http_authorization $ncro_auth_scheme { "" "none"; "~^(?<s>\\S+)" $s; }
          log_format ncro_auth '$uri $ncro_auth_scheme "$http_range"';
          access_log %1$s/auth.log ncro_auth;
          client_body_temp_path %2$s/body;
          proxy_temp_path %2$s/proxy;
          fastcgi_temp_path %2$s/fastcgi;
          uwsgi_temp_path %2$s/uwsgi;
          scgi_temp_path %2$s/scgi;
          sendfile on;
          keepalive_timeout 65;
          keepalive_requests 100000;
          server {
            listen 127.0.0.1:%3$d%5$s;
            %4$s
          }
        }
        """.formatted(prefix, tmp, port, server, listenOptions);
  }

  /** One process in the foreground, its pid file and error log in {@code prefix}. */
  private static String process(Path prefix) {
    return """
        daemon off;
        master_process off;
        worker_processes 1;
        pid %1$s/nginx.pid;
        error_log %1$s/error.log warn;
        events { worker_connections 1024; }
        """.formatted(prefix);
  }

  private static boolean awaitListening(Process p, int port) throws InterruptedException {
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
    while (System.nanoTime() < deadline) {
      if (!p.isAlive()) {
        return false;
      }
      try (Socket s = new Socket()) {
        s.connect(new InetSocketAddress("127.0.0.1", port), 200);
        return true;
      } catch (IOException notYet) {
        Thread.sleep(20);
      }
    }
    return false;
  }

  public int port() {
    return port;
  }

  public InetSocketAddress address() {
    return new InetSocketAddress("127.0.0.1", port);
  }

  public URI uri() {
    return URI.create("http://127.0.0.1:" + port);
  }

  /** {@code https://host:port}: {@code host} must be a name the certificate holds (localhost, 127.0.0.1). */
  public URI httpsUri(String host) {
    return URI.create("https://" + host + ":" + port);
  }

  /** Per request: {@code URI SCHEME "RANGE"}, SCHEME the Authorization scheme or {@code none}. */
  public List<String> authorizationLog() throws IOException {
    Path log = prefix.resolve("auth.log");
    return Files.exists(log) ? Files.readAllLines(log) : List.of();
  }

  /** The directory nginx runs in (config, logs; files a test puts there, e.g. an htpasswd). */
  public Path prefix() {
    return prefix;
  }

  /** The access log so far, one line per request (see the class comment). */
  public List<String> accessLog() throws IOException {
    Path log = prefix.resolve("access.log");
    return Files.exists(log) ? Files.readAllLines(log) : List.of();
  }

  @Override
  public void close() {
    ChildProcesses.stop(process, killAtExit);
    ChildProcesses.deleteTree(prefix);
  }
}

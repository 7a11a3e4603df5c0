package dev.ncro.support;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.ServerSocket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.security.SecureRandom;
import java.time.Duration;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

/**
 * A real S3 server: S3Proxy ({@code org.gaul:s3proxy}, the jar-with-dependencies Maven copies to
 * {@code target/s3proxy/s3proxy.jar} for the tests, never into ncro's jar), on a free loopback
 * port, with the filesystem backend and {@code s3proxy.authorization=aws-v2-or-v4}, so every
 * request's signature is really checked.
 *
 * <p>Buckets are directories of the backend and keys are files under them, so a binary cache
 * written by {@code nix copy --to file://...} becomes a bucket by copying its files
 * ({@link #putTree}): no S3 PUT, hence none of the checksum headers this S3Proxy version rejects
 * from current AWS clients.
 *
 * <p>The secret key is random per instance: a scan of ncro's logs and answers for it cannot match
 * anything by accident.
 */
public final class S3Proxy implements AutoCloseable {
  public static final String ACCESS_KEY = "AKIANCROTEST0000S3PX";

  private final Process process;
  private final Path dir;
  private final Path data;
  private final int port;
  private final String secret;
  private final Thread killAtExit;

  private S3Proxy(Process process, Path dir, Path data, int port, String secret) {
    this.process = process;
    this.dir = dir;
    this.data = data;
    this.port = port;
    this.secret = secret;
    this.killAtExit = new Thread(() -> {
      try {
        process.destroyForcibly().waitFor(2, TimeUnit.SECONDS);
      } catch (InterruptedException ignored) {
        // exiting anyway
      }
    });
    Runtime.getRuntime().addShutdownHook(killAtExit);
  }

  /** The S3Proxy jar the build copied for the tests. */
  public static Path jar() {
    String p = System.getProperty("ncro.s3proxy.jar");
    if (p == null || !Files.isRegularFile(Path.of(p))) {
      throw new IllegalStateException("S3Proxy jar not found (system property ncro.s3proxy.jar = "
          + p + "); run the tests through Maven, which copies it to target/s3proxy/");
    }
    return Path.of(p);
  }

  /** Starts S3Proxy with its state (backend, config, log) under {@code dir}; ready when it returns. */
  public static S3Proxy start(Path dir) throws IOException, InterruptedException {
    Files.createDirectories(dir);
    Path data = Files.createDirectories(dir.resolve("data"));
    byte[] random = new byte[16];
    new SecureRandom().nextBytes(random);
    String secret = "ncroS3secret" + HexFormat.of().formatHex(random);
    int port;
    try (ServerSocket s = new ServerSocket(0)) {
      port = s.getLocalPort();
    }
    Path props = dir.resolve("s3proxy.properties");
    Files.writeString(
        props,
        String.join(
            "\n",
            "s3proxy.endpoint=http://127.0.0.1:" + port,
            "s3proxy.authorization=aws-v2-or-v4",
            "s3proxy.identity=" + ACCESS_KEY,
            "s3proxy.credential=" + secret,
            "jclouds.provider=filesystem",
            "jclouds.filesystem.basedir=" + data.toAbsolutePath(),
            ""));
    Path java = Path.of(System.getProperty("java.home"), "bin", "java");
    Process p = new ProcessBuilder(
            java.toString(),
            "-Xmx256m",
            "-XX:TieredStopAtLevel=1",
            "-jar",
            jar().toString(),
            "--properties",
            props.toString())
        .redirectErrorStream(true)
        .redirectOutput(dir.resolve("s3proxy.log").toFile())
        .start();
    S3Proxy proxy = new S3Proxy(p, dir, data, port, secret);
    HttpClient http =
        HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(1)).build();
    try {
      Await.until("S3Proxy listening on port " + port, () -> {
        if (!p.isAlive()) {
          throw new IllegalStateException("S3Proxy exited: " + proxy.log());
        }
        try {
          http.send(
              HttpRequest.newBuilder(proxy.endpoint().resolve("/"))
                  .timeout(Duration.ofSeconds(2))
                  .build(),
              HttpResponse.BodyHandlers.discarding());
          return true;
        } catch (IOException e) {
          return false;
        } catch (InterruptedException e) {
          Thread.currentThread().interrupt();
          return false;
        }
      });
    } catch (RuntimeException | InterruptedException e) {
      proxy.close();
      throw e;
    }
    return proxy;
  }

  public URI endpoint() {
    return URI.create("http://127.0.0.1:" + port);
  }

  /** {@code 127.0.0.1:PORT}, for an {@code s3://...?endpoint=} parameter. */
  public String hostPort() {
    return "127.0.0.1:" + port;
  }

  public String secretKey() {
    return secret;
  }

  /** Creates an empty bucket. */
  public Path bucket(String name) throws IOException {
    return Files.createDirectories(data.resolve(name));
  }

  /** Puts every file under {@code tree} into {@code bucket}, under {@code prefix} ("" for the root). */
  public void putTree(String bucket, String prefix, Path tree) throws IOException {
    Path target = bucket(bucket);
    if (!prefix.isEmpty()) {
      target = Files.createDirectories(target.resolve(prefix));
    }
    Path to = target;
    try (Stream<Path> files = Files.walk(tree)) {
      for (Path f : files.filter(Files::isRegularFile).toList()) {
        Path dest = to.resolve(tree.relativize(f).toString());
        Files.createDirectories(dest.getParent());
        Files.copy(f, dest, StandardCopyOption.REPLACE_EXISTING);
      }
    }
  }

  /** Puts one object. */
  public void put(String bucket, String key, byte[] body) throws IOException {
    Path dest = bucket(bucket).resolve(key);
    Files.createDirectories(dest.getParent());
    Files.write(dest, body);
  }

  /** Removes one object. */
  public void delete(String bucket, String key) throws IOException {
    Files.deleteIfExists(data.resolve(bucket).resolve(key));
  }

  public String log() {
    try {
      return Files.readString(dir.resolve("s3proxy.log"));
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  /** The environment ncro takes its AWS credentials from, with {@code secret} as the secret key. */
  public static Map<String, String> awsEnv(Path home, String secret) {
    return Map.of(
        "AWS_ACCESS_KEY_ID", ACCESS_KEY, "AWS_SECRET_ACCESS_KEY", secret, "HOME", home.toString());
  }

  @Override
  public void close() throws InterruptedException {
    process.destroy();
    if (!process.waitFor(5, TimeUnit.SECONDS)) {
      process.destroyForcibly().waitFor(5, TimeUnit.SECONDS);
    }
    try {
      Runtime.getRuntime().removeShutdownHook(killAtExit);
    } catch (IllegalStateException ignored) {
      // the JVM is already exiting
    }
  }

  /** Command line pieces for {@code curl --aws-sigv4} against this server (benchmarks). */
  public List<String> curlAuth() {
    return List.of(
        "--aws-sigv4",
        "aws:amz:us-east-1:s3",
        "--user",
        ACCESS_KEY + ":" + secret,
        "-H",
        "x-amz-content-sha256: UNSIGNED-PAYLOAD");
  }
}

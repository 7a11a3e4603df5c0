package dev.ncro.support;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * A certificate authority made for one test run with the {@code openssl} command (Debian package
 * {@code openssl}), and server certificates it issues. Why the CLI rather than BouncyCastle's
 * certificate builder: it is what an admin would run for a private cache, the suite already needs
 * it installed for nginx-style setups, and it keeps bcpkix out of the dependencies for tests alone.
 * Nothing is checked in: a new key pair per run, so no test secret ever ages or leaks.
 */
public final class TestCa {
  private final Path dir;
  private final Path caCert;
  private final Path caKey;
  private int serial;

  /** A server certificate and its key, PEM files. */
  public record ServerCert(Path cert, Path key) {}

  private TestCa(Path dir) {
    this.dir = dir;
    this.caCert = dir.resolve("ca.pem");
    this.caKey = dir.resolve("ca.key");
  }

  public static TestCa create(Path dir, String name) throws IOException, InterruptedException {
    Files.createDirectories(dir);
    TestCa ca = new TestCa(dir);
    run(
        dir,
        "openssl",
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
        "-keyout",
        ca.caKey.toString(),
        "-out",
        ca.caCert.toString(),
        "-days",
        "2",
        "-subj",
        "/CN=" + name,
        "-addext",
        "basicConstraints=critical,CA:TRUE",
        "-addext",
        "keyUsage=critical,keyCertSign,cRLSign");
    return ca;
  }

  /** The CA certificate (PEM): what {@code ca_file} points at. */
  public Path certificate() {
    return caCert;
  }

  /** A server certificate for {@code dnsNames} and {@code ips} (subject alternative names). */
  public ServerCert issue(List<String> dnsNames, List<String> ips)
      throws IOException, InterruptedException {
    int n = ++serial;
    Path key = dir.resolve("server-" + n + ".key");
    Path csr = dir.resolve("server-" + n + ".csr");
    Path cert = dir.resolve("server-" + n + ".pem");
    Path ext = dir.resolve("server-" + n + ".ext");
    List<String> san = new ArrayList<>();
    dnsNames.forEach(d -> san.add("DNS:" + d));
    ips.forEach(i -> san.add("IP:" + i));
    Files.writeString(
        ext,
        "subjectAltName=" + String.join(",", san) + "\nextendedKeyUsage=serverAuth\n"
            + "basicConstraints=CA:FALSE\n");
    run(
        dir,
        "openssl",
        "req",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
        "-keyout",
        key.toString(),
        "-out",
        csr.toString(),
        "-subj",
        "/CN=" + (dnsNames.isEmpty() ? ips.get(0) : dnsNames.get(0)));
    run(
        dir,
        "openssl",
        "x509",
        "-req",
        "-in",
        csr.toString(),
        "-CA",
        caCert.toString(),
        "-CAkey",
        caKey.toString(),
        "-set_serial",
        String.valueOf(1000 + n),
        "-days",
        "2",
        "-extfile",
        ext.toString(),
        "-out",
        cert.toString());
    return new ServerCert(cert, key);
  }

  /** An Apache {@code htpasswd} line for nginx {@code auth_basic_user_file}. */
  public static String htpasswd(Path dir, String user, String password)
      throws IOException, InterruptedException {
    Path out = dir.resolve("htpasswd.out");
    ProcessBuilder pb = new ProcessBuilder("openssl", "passwd", "-apr1", "-stdin")
        .redirectErrorStream(true)
        .redirectOutput(out.toFile());
    Process p = pb.start();
    p.getOutputStream().write((password + "\n").getBytes());
    p.getOutputStream().close();
    if (!p.waitFor(30, TimeUnit.SECONDS) || p.exitValue() != 0) {
      throw new IOException("openssl passwd failed: " + Files.readString(out));
    }
    String hash = Files.readString(out).strip();
    Files.delete(out);
    return user + ":" + hash + "\n";
  }

  private static void run(Path dir, String... cmd) throws IOException, InterruptedException {
    Path log = dir.resolve("openssl.log");
    Process p = new ProcessBuilder(cmd)
        .directory(dir.toFile())
        .redirectErrorStream(true)
        .redirectOutput(log.toFile())
        .start();
    if (!p.waitFor(60, TimeUnit.SECONDS) || p.exitValue() != 0) {
      p.destroyForcibly();
      throw new IOException(String.join(" ", cmd) + " failed:\n" + Files.readString(log));
    }
  }
}

package dev.ncro.upstream;

import dev.ncro.config.FileStamp;
import io.netty.handler.ssl.OpenSsl;
import io.netty.handler.ssl.SslContext;
import io.netty.handler.ssl.SslContextBuilder;
import io.netty.handler.ssl.SslProvider;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.security.KeyStore;
import java.security.cert.Certificate;
import java.security.cert.CertificateFactory;
import java.security.cert.X509Certificate;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.Supplier;
import javax.net.ssl.TrustManagerFactory;
import javax.net.ssl.X509TrustManager;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * What ncro trusts for HTTPS upstreams, and the TLS client contexts built from it.
 *
 * <p>System trust is the JDK's own store plus the bundle Nix itself uses, the first of
 * {@code $NIX_SSL_CERT_FILE}, {@code $SSL_CERT_FILE} and {@code /etc/ssl/certs/ca-certificates.crt}
 * that exists: on NixOS the JDK's store is built with the JDK and need not match the CAs the admin
 * configured ({@code security.pki.certificateFiles}), which land in that bundle. An upstream's
 * {@code ca_file} adds its certificates for that upstream only (a company CA for one cache does
 * not become trusted for cache.nixos.org). Hostname verification and SNI are always on (see
 * {@link ConnectionPool}); there is no switch to turn verification off.
 *
 * <p>One context per distinct {@code ca_file}: contexts hold session caches, so sharing them keeps
 * TLS session resumption working across pools.
 *
 * <p>Followed while running ({@link #refresh}, once a second on the housekeeping thread): when the
 * OS bundle or a {@code ca_file} changes (one {@code stat} each: a company's new root CA rolled out
 * by {@code update-ca-certificates} or configuration management, a cache's certificate re-issued
 * by a new internal CA), the contexts built on it are rebuilt and new connections use them;
 * connections already open keep the trust they were verified with. A file that is now unreadable
 * or holds no certificate keeps the last good trust, logged once per change.
 *
 * <p>Loaded off the start-up path: parsing the JDK store and the bundle (about 280 certificates)
 * and loading the BoringSSL library took 0.7 to 1 s of a 2.5 s start on a 2-core machine
 * (class-load timeline, {@code bench/first/run}), and an HTTP-only configuration needs none of
 * it at start. {@link #preload} starts the work on a thread of its own: at once when an HTTPS
 * upstream is configured, a few seconds after start otherwise (a redirect to an HTTPS mirror or a
 * discovered HTTPS cache then finds it ready); the first {@link #context} waits for it.
 */
public final class TlsTrust {
  private static final Logger log = LoggerFactory.getLogger(TlsTrust.class);
  static final Path DEBIAN_BUNDLE = Path.of("/etc/ssl/certs/ca-certificates.crt");
  private final Optional<Path> bundle;
  private final String providerName;
  private final ConcurrentHashMap<Optional<Path>, Trusted> contexts = new ConcurrentHashMap<>();
  /** The system certificates and the engine; null until the load starts. */
  private volatile CompletableFuture<Loaded> loaded;

  /** {@code bundleStamp}: the OS bundle's version the system certificates were read from. */
  private record Loaded(
      List<X509Certificate> system, SslProvider provider, FileStamp bundleStamp) {}

  /** The context for one {@code ca_file}, and the versions of the files it was built from. */
  private static final class Trusted {
    final Optional<Path> caFile;
    volatile SslContext context;
    /** False while the last change of its files could not be used. */
    volatile boolean usable = true;

    FileStamp caStamp; // guarded by TlsTrust.this
    /** The system certificates it was built on (by identity: a bundle read anew is a new list). */
    List<X509Certificate> system; // guarded by TlsTrust.this

    Trusted(Optional<Path> caFile) {
      this.caFile = caFile;
    }
  }

  private TlsTrust(Optional<Path> bundle, String providerName) {
    this.bundle = bundle;
    this.providerName = providerName;
  }

  /**
   * System trust from {@code env} (the process environment in production). {@code providerName}:
   * "jdk", "openssl", or "" for the default: BoringSSL through Netty's OpenSSL engine when its
   * native library loads, else the JDK's. Chosen by measurement: 1.37x the JDK engine's NAR
   * throughput in the same run (docs/decisions.md, section 3); "jdk" is the escape hatch.
   */
  public static TlsTrust system(Map<String, String> env, String providerName) {
    return new TlsTrust(osBundle(env), providerName);
  }

  /**
   * Starts loading the system trust and the TLS engine on a thread of its own, if that has not
   * begun: called at start-up when an HTTPS upstream is configured, so the first HTTPS connection
   * finds it ready.
   */
  public TlsTrust preload() {
    load();
    return this;
  }

  private CompletableFuture<Loaded> load() {
    CompletableFuture<Loaded> l = loaded;
    if (l == null) {
      synchronized (this) {
        l = loaded;
        if (l == null) {
          l = CompletableFuture.supplyAsync(
              this::loadNow,
              r -> Thread.ofPlatform().name("ncro-tls-trust").daemon(true).start(r));
          loaded = l;
        }
      }
    }
    return l;
  }

  private Loaded loadNow() {
    FileStamp stamp = bundle.map(FileStamp::of).orElse(null);
    List<X509Certificate> certs = new ArrayList<>(jdkDefault());
    bundle.ifPresent(b -> {
      try {
        certs.addAll(read(b));
      } catch (IOException | GeneralSecurityException e) {
        log.atWarn()
            .setMessage("cannot read the system CA bundle; using the JDK's trust store alone")
            .addKeyValue("path", b)
            .addKeyValue("error", e.getMessage())
            .log();
      }
    });
    SslProvider provider = SslProvider.JDK;
    if (!"jdk".equals(providerName)) {
      if (OpenSsl.isAvailable()) {
        provider = SslProvider.OPENSSL;
      } else {
        log.atWarn()
            .setMessage("BoringSSL TLS engine not available on this platform; using the JDK's")
            .addKeyValue("cause", String.valueOf(OpenSsl.unavailabilityCause()))
            .log();
      }
    }
    return new Loaded(List.copyOf(certs), provider, stamp);
  }

  /** The bundle Nix would use: NIX_SSL_CERT_FILE, then SSL_CERT_FILE, then the Debian/NixOS path. */
  static Optional<Path> osBundle(Map<String, String> env) {
    for (String var : List.of("NIX_SSL_CERT_FILE", "SSL_CERT_FILE")) {
      String v = env.get(var);
      if (v != null && !v.isBlank() && Files.isReadable(Path.of(v))) {
        return Optional.of(Path.of(v));
      }
    }
    return Files.isReadable(DEBIAN_BUNDLE) ? Optional.of(DEBIAN_BUNDLE) : Optional.empty();
  }

  /** The OS bundle in use, if any (for the start-up log). */
  public Optional<Path> bundle() {
    return bundle;
  }

  /** The TLS engine in use ("openssl" or "jdk"); waits for the load. */
  public String provider() {
    return loaded().provider().name().toLowerCase(Locale.ROOT);
  }

  private Loaded loaded() {
    try {
      return load().join();
    } catch (CompletionException e) {
      throw e.getCause() instanceof RuntimeException r ? r : e;
    }
  }

  /**
   * The client context for an upstream with {@code caFile} (null: system trust only), as it is
   * now: a pool asks for every new connection, so a rebuilt context ({@link #refresh}) is used
   * from the next connection on.
   */
  public Supplier<SslContext> context(Path caFile) {
    Trusted t = contexts.computeIfAbsent(Optional.ofNullable(caFile), this::first);
    return () -> t.context;
  }

  private Trusted first(Optional<Path> caFile) {
    Loaded trust = loaded();
    Trusted t = new Trusted(caFile);
    synchronized (this) {
      t.caStamp = caFile.map(FileStamp::of).orElse(null);
      t.system = trust.system();
    }
    try {
      t.context = build(trust, caFile);
    } catch (IOException | GeneralSecurityException e) {
      // ca_file was checked at start-up; it changed or vanished since.
      throw new IllegalStateException(
          "cannot build TLS trust" + caFile.map(p -> " with " + p).orElse("") + ": "
              + e.getMessage(),
          e);
    }
    return t;
  }

  /**
   * Looks at the OS bundle and every {@code ca_file} in use, one {@code stat} each, and rebuilds
   * the contexts whose files changed. Returns true when some context changed (the caller probes
   * the upstreams at once: one that failed its TLS handshake may now pass). Does nothing before
   * the first HTTPS connection loaded the trust.
   */
  public synchronized boolean refresh() {
    CompletableFuture<Loaded> l = loaded;
    if (l == null || !l.isDone() || l.isCompletedExceptionally()) {
      return false;
    }
    Loaded trust = l.join();
    if (bundle.isPresent()) {
      FileStamp now = FileStamp.of(bundle.get());
      if (!now.equals(trust.bundleStamp())) {
        trust = reloadBundle(trust, now);
      }
    }
    boolean changed = false;
    for (Trusted t : contexts.values()) {
      FileStamp ca = t.caFile.map(FileStamp::of).orElse(null);
      if (Objects.equals(ca, t.caStamp) && trust.system() == t.system) {
        continue;
      }
      t.caStamp = ca;
      t.system = trust.system();
      try {
        t.context = build(trust, t.caFile);
        t.usable = true;
        changed = true;
        log.atInfo()
            .setMessage("TLS trust changed; new upstream connections use it")
            .addKeyValue("ca_file", t.caFile.map(Path::toString).orElse("none"))
            .addKeyValue("bundle", bundle.map(Path::toString).orElse("none"))
            .log();
      } catch (IOException | GeneralSecurityException e) {
        t.usable = false;
        log.atWarn()
            .setMessage("TLS trust changed but cannot be used; keeping the last good one")
            .addKeyValue("ca_file", t.caFile.map(Path::toString).orElse("none"))
            .addKeyValue("problem", e.getMessage())
            .log();
      }
    }
    return changed;
  }

  /**
   * For {@code /status}: "none" without a {@code ca_file}, "ok", or "unusable" while its last change
   * could not be used (connections are verified against the last good trust meanwhile).
   */
  public String caFileState(Path caFile) {
    if (caFile == null) {
      return "none";
    }
    Trusted t = contexts.get(Optional.of(caFile));
    return t == null || t.usable ? "ok" : "unusable";
  }

  /**
   * How many {@code ca_file}s in use changed into something ncro cannot use (it runs on the last
   * good trust; a restart would fail on the file): {@code ncro_credential_files_unusable{kind="ca"}}.
   */
  public int unusableCaFiles() {
    return (int) contexts.values().stream()
        .filter(t -> t.caFile.isPresent() && !t.usable)
        .count();
  }

  /** The system certificates read again from a changed OS bundle; the old ones if it is unusable. */
  private Loaded reloadBundle(Loaded old, FileStamp now) {
    Path b = bundle.orElseThrow();
    Loaded next;
    try {
      List<X509Certificate> certs = new ArrayList<>(jdkDefault());
      certs.addAll(certificates(b));
      next = new Loaded(List.copyOf(certs), old.provider(), now);
    } catch (IOException | GeneralSecurityException e) {
      log.atWarn()
          .setMessage("system CA bundle changed but cannot be read; keeping the last good one")
          .addKeyValue("path", b)
          .addKeyValue("problem", e.getMessage())
          .log();
      // Stamped, so logged once per change; the same certificates, so no context is rebuilt.
      next = new Loaded(old.system(), old.provider(), now);
    }
    loaded = CompletableFuture.completedFuture(next);
    return next;
  }

  private static SslContext build(Loaded trust, Optional<Path> caFile)
      throws IOException, GeneralSecurityException {
    KeyStore ks = KeyStore.getInstance(KeyStore.getDefaultType());
    ks.load(null, null);
    int i = 0;
    for (X509Certificate c : trust.system()) {
      ks.setCertificateEntry("system-" + i++, c);
    }
    if (caFile.isPresent()) {
      for (X509Certificate c : certificates(caFile.get())) {
        ks.setCertificateEntry("ca-file-" + i++, c);
      }
    }
    TrustManagerFactory tmf =
        TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
    tmf.init(ks);
    return SslContextBuilder.forClient()
        .sslProvider(trust.provider())
        .trustManager(tmf)
        .build();
  }

  /** {@link #read}, refusing a file without any certificate (empty, or caught mid-write). */
  private static List<X509Certificate> certificates(Path pem)
      throws IOException, GeneralSecurityException {
    List<X509Certificate> certs = read(pem);
    if (certs.isEmpty()) {
      throw new IOException(pem + " holds no certificate");
    }
    return certs;
  }

  private static List<X509Certificate> jdkDefault() {
    try {
      TrustManagerFactory tmf =
          TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
      tmf.init((KeyStore) null);
      List<X509Certificate> out = new ArrayList<>();
      for (var tm : tmf.getTrustManagers()) {
        if (tm instanceof X509TrustManager x) {
          out.addAll(List.of(x.getAcceptedIssuers()));
        }
      }
      return out;
    } catch (GeneralSecurityException e) {
      throw new IllegalStateException("cannot read the JDK's trust store", e);
    }
  }

  static List<X509Certificate> read(Path pem) throws IOException, GeneralSecurityException {
    try (InputStream in = Files.newInputStream(pem)) {
      List<X509Certificate> out = new ArrayList<>();
      for (Certificate c : CertificateFactory.getInstance("X.509").generateCertificates(in)) {
        out.add((X509Certificate) c);
      }
      return out;
    }
  }
}

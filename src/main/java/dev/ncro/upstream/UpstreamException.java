package dev.ncro.upstream;

import io.netty.channel.ConnectTimeoutException;
import java.io.IOException;
import java.net.ConnectException;
import java.net.UnknownHostException;
import java.nio.channels.UnresolvedAddressException;
import java.security.cert.CertPathBuilderException;
import java.security.cert.CertPathValidatorException;
import java.security.cert.CertificateException;
import java.util.concurrent.CompletionException;
import javax.net.ssl.SSLException;

/** A failed exchange with an upstream, with the {@link FailureKind} that classifies it. */
public final class UpstreamException extends IOException {
  private final FailureKind kind;

  public UpstreamException(FailureKind kind, String message) {
    super(message);
    this.kind = kind;
  }

  public UpstreamException(FailureKind kind, String message, Throwable cause) {
    super(message, cause);
    this.kind = kind;
  }

  public FailureKind kind() {
    return kind;
  }

  /** Classifies any throwable from an exchange. */
  public static UpstreamException of(Throwable t) {
    Throwable c = t;
    while (c instanceof CompletionException && c.getCause() != null) {
      c = c.getCause();
    }
    if (c instanceof UpstreamException u) {
      return u;
    }
    String certificate = certificateProblem(c);
    if (certificate != null) {
      return new UpstreamException(FailureKind.TLS, certificate, c);
    }
    if (c instanceof ConnectException
        || c instanceof ConnectTimeoutException
        || c instanceof SSLException) {
      return new UpstreamException(FailureKind.CONNECT, String.valueOf(c.getMessage()), c);
    }
    if (c instanceof UnknownHostException || c instanceof UnresolvedAddressException) {
      // No DNS answer (a typo, no network yet, a proxy's name): unreachable, like a refusal.
      return new UpstreamException(
          FailureKind.CONNECT,
          "cannot resolve host" + (c.getMessage() == null ? "" : " " + c.getMessage()),
          c);
    }
    return new UpstreamException(FailureKind.PROTOCOL, String.valueOf(c), c);
  }

  /**
   * The reason, when {@code t} is a TLS handshake that failed on the server's certificate (unknown
   * issuer, expired, wrong host name): "certificate: " and the innermost message. Null otherwise
   * (a timeout, a reset, a protocol mismatch: connection problems, not certificate ones).
   */
  static String certificateProblem(Throwable t) {
    boolean tls = false;
    for (Throwable c = t; c != null; c = c.getCause() == c ? null : c.getCause()) {
      tls |= c instanceof SSLException;
      if (tls
          && (c instanceof CertificateException
              || c instanceof CertPathValidatorException
              || c instanceof CertPathBuilderException)) {
        Throwable root = c;
        while (root.getCause() != null && root.getCause() != root) {
          root = root.getCause();
        }
        return "certificate: " + root.getMessage();
      }
    }
    return null;
  }
}

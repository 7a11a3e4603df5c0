package dev.ncro.upstream;

import java.io.IOException;

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
    while (c instanceof java.util.concurrent.CompletionException && c.getCause() != null) {
      c = c.getCause();
    }
    if (c instanceof UpstreamException u) {
      return u;
    }
    if (c instanceof java.net.ConnectException
        || c instanceof io.netty.channel.ConnectTimeoutException
        || c instanceof javax.net.ssl.SSLException) {
      return new UpstreamException(FailureKind.CONNECT, String.valueOf(c.getMessage()), c);
    }
    return new UpstreamException(FailureKind.PROTOCOL, String.valueOf(c), c);
  }
}

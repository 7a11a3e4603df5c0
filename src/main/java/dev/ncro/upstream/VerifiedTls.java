package dev.ncro.upstream;

import io.netty.buffer.ByteBufAllocator;
import io.netty.handler.ssl.SslContext;
import io.netty.handler.ssl.SslHandler;
import io.netty.util.NetUtil;
import java.time.Duration;
import java.util.List;
import javax.net.ssl.SNIHostName;
import javax.net.ssl.SSLEngine;
import javax.net.ssl.SSLParameters;

/**
 * A client TLS handler that checks the peer's certificate against the name ncro connects to, with
 * that name as SNI: the one way ncro opens TLS, to an upstream and to an {@code https://} proxy
 * alike. There is no switch to turn the check off.
 */
final class VerifiedTls {
  private VerifiedTls() {}

  static SslHandler handler(
      SslContext context,
      ByteBufAllocator alloc,
      String host,
      int port,
      Duration handshakeTimeout) {
    SslHandler tls = context.newHandler(alloc, host, port);
    tls.setHandshakeTimeoutMillis(handshakeTimeout.toMillis());
    SSLEngine engine = tls.engine();
    SSLParameters params = engine.getSSLParameters();
    params.setEndpointIdentificationAlgorithm("HTTPS");
    if (!NetUtil.isValidIpV4Address(host) && !NetUtil.isValidIpV6Address(host)) {
      // Explicitly: the JDK leaves SNI out for a name without a dot ("localhost", an intranet
      // "cache"), and a server with several certificates then picks the wrong one.
      params.setServerNames(List.of(new SNIHostName(host)));
    }
    engine.setSSLParameters(params);
    return tls;
  }
}

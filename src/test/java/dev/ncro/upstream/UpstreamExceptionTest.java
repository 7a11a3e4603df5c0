package dev.ncro.upstream;

import static org.assertj.core.api.Assertions.assertThat;

import io.netty.channel.ConnectTimeoutException;
import java.io.IOException;
import java.net.ConnectException;
import java.net.UnknownHostException;
import java.nio.channels.UnresolvedAddressException;
import java.security.cert.CertificateException;
import java.util.concurrent.CompletionException;
import javax.net.ssl.SSLHandshakeException;
import org.junit.jupiter.api.Test;

/** Which failure kind each way of failing is: it decides suspension, health and the metric label. */
class UpstreamExceptionTest {
  @Test
  void unreachableIsConnectWhateverTheLayerThatSaysSo() {
    assertThat(UpstreamException.of(new ConnectException("refused")).kind())
        .isEqualTo(FailureKind.CONNECT);
    assertThat(UpstreamException.of(new ConnectTimeoutException("slow")).kind())
        .isEqualTo(FailureKind.CONNECT);
    UpstreamException dns = UpstreamException.of(new UnknownHostException("cache.example.invalid"));
    assertThat(dns.kind()).isEqualTo(FailureKind.CONNECT);
    assertThat(dns.getMessage()).isEqualTo("cannot resolve host cache.example.invalid");
    assertThat(UpstreamException.of(new UnresolvedAddressException()).kind())
        .isEqualTo(FailureKind.CONNECT);
  }

  @Test
  void aCertificateProblemIsTlsAndNamesTheInnermostReason() {
    SSLHandshakeException e = new SSLHandshakeException("handshake failed");
    e.initCause(new CertificateException("PKIX path building failed: unknown issuer"));
    UpstreamException u = UpstreamException.of(new CompletionException(e));
    assertThat(u.kind()).isEqualTo(FailureKind.TLS);
    assertThat(u.getMessage()).isEqualTo("certificate: PKIX path building failed: unknown issuer");
  }

  @Test
  void anythingElseIsProtocolAndAnUpstreamExceptionStaysAsItIs() {
    assertThat(UpstreamException.of(new IOException("odd")).kind()).isEqualTo(FailureKind.PROTOCOL);
    UpstreamException own = new UpstreamException(FailureKind.TIMEOUT, "no answer");
    assertThat(UpstreamException.of(new CompletionException(own))).isSameAs(own);
  }
}

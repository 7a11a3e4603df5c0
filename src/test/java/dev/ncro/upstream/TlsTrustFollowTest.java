package dev.ncro.upstream;

import static org.assertj.core.api.Assertions.assertThat;

import dev.ncro.support.FileTimes;
import io.netty.handler.ssl.SslContext;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.KeyStore;
import java.security.cert.X509Certificate;
import java.util.Base64;
import java.util.List;
import java.util.Map;
import java.util.function.Supplier;
import javax.net.ssl.TrustManagerFactory;
import javax.net.ssl.X509TrustManager;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The OS bundle and a {@code ca_file} followed while ncro runs ({@link TlsTrust#refresh}): a change
 * rebuilds the contexts built on it, an unusable file keeps the last good trust. The certificates
 * are two of the JDK's own roots, written as PEM: nothing to install.
 */
class TlsTrustFollowTest {
  @TempDir
  Path dir;

  private static List<X509Certificate> jdkRoots() throws Exception {
    TrustManagerFactory tmf =
        TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
    tmf.init((KeyStore) null);
    return List.of(((X509TrustManager) tmf.getTrustManagers()[0]).getAcceptedIssuers());
  }

  private static String pem(X509Certificate... certs) throws Exception {
    StringBuilder out = new StringBuilder();
    for (X509Certificate c : certs) {
      out.append("-----BEGIN CERTIFICATE-----\n")
          .append(Base64.getMimeEncoder(64, "\n".getBytes()).encodeToString(c.getEncoded()))
          .append("\n-----END CERTIFICATE-----\n");
    }
    return out.toString();
  }

  @Test
  void aChangedCaFileOrBundleRebuildsItsContextAndABrokenOneKeepsTheLastGood() throws Exception {
    List<X509Certificate> roots = jdkRoots();
    Path bundle = dir.resolve("ca-bundle.crt");
    Files.writeString(bundle, pem(roots.get(0)));
    Path caFile = dir.resolve("company-ca.pem");
    Files.writeString(caFile, pem(roots.get(1)));
    TlsTrust trust = TlsTrust.system(Map.of("NIX_SSL_CERT_FILE", bundle.toString()), "jdk");
    assertThat(trust.refresh()).as("nothing loaded yet: nothing to follow").isFalse();

    Supplier<SslContext> withCa = trust.context(caFile);
    Supplier<SslContext> systemOnly = trust.context(null);
    SslContext first = withCa.get();
    SslContext firstSystem = systemOnly.get();
    assertThat(trust.refresh()).as("unchanged files").isFalse();

    Files.writeString(caFile, pem(roots.get(1), roots.get(2)));
    FileTimes.bump(caFile);
    assertThat(trust.refresh()).isTrue();
    SslContext second = withCa.get();
    assertThat(second).isNotSameAs(first);
    assertThat(systemOnly.get())
        .as("the other context is not built on that file")
        .isSameAs(firstSystem);

    Files.writeString(caFile, "-----BEGIN CERT"); // caught mid-write
    FileTimes.bump(caFile);
    assertThat(trust.refresh()).isFalse();
    assertThat(withCa.get()).as("the last good trust").isSameAs(second);
    assertThat(trust.unusableCaFiles()).isEqualTo(1);

    Files.writeString(bundle, pem(roots.get(0), roots.get(3)));
    FileTimes.bump(bundle);
    assertThat(trust.refresh()).isTrue();
    assertThat(systemOnly.get()).as("every context rests on the bundle").isNotSameAs(firstSystem);
    assertThat(withCa.get())
        .as("rebuilt on the new bundle, its ca_file still unusable: kept")
        .isSameAs(second);
    assertThat(trust.unusableCaFiles()).isEqualTo(1);

    Files.writeString(caFile, pem(roots.get(1)));
    FileTimes.bump(caFile);
    assertThat(trust.refresh()).isTrue();
    assertThat(withCa.get()).isNotSameAs(second);
    assertThat(trust.unusableCaFiles()).isZero();
  }
}

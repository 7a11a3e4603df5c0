package dev.ncro.s3;

import static org.assertj.core.api.Assertions.assertThat;

import dev.ncro.config.S3Location;
import io.netty.handler.codec.http.DefaultHttpHeaders;
import io.netty.handler.codec.http.HttpHeaders;
import io.netty.handler.codec.http.HttpMethod;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import software.amazon.awssdk.auth.credentials.AwsBasicCredentials;
import software.amazon.awssdk.auth.credentials.AwsSessionCredentials;
import software.amazon.awssdk.auth.credentials.StaticCredentialsProvider;

class S3SignerTest {
  private final ScheduledExecutorService timer = Executors.newSingleThreadScheduledExecutor();

  @AfterEach
  void stop() {
    timer.shutdownNow();
  }

  private static byte[] error(String code) {
    return ("<?xml version='1.0' encoding='UTF-8'?><Error><Code>" + code
            + "</Code><Message>Forbidden</Message></Error>")
        .getBytes(StandardCharsets.UTF_8);
  }

  private S3Signer signer(software.amazon.awssdk.auth.credentials.AwsCredentials c) {
    S3Credentials creds = S3Credentials.start("test", StaticCredentialsProvider.create(c), timer);
    return new S3Signer(
        S3Location.parse("s3://cache?endpoint=127.0.0.1:9000&region=eu-west-1"), creds);
  }

  @Test
  void signsWithSigV4ForS3AndLeavesTheHostAsSent() {
    S3Signer s =
        signer(AwsSessionCredentials.create("AKIDEXAMPLE", "wJalrXUtnFEMI", "session-token-1"));
    HttpHeaders h =
        new DefaultHttpHeaders().set("Host", "127.0.0.1:9000").set("Range", "bytes=10-");
    s.authorize(HttpMethod.GET, "127.0.0.1:9000", "/cache/nar/abc.nar.xz", h);

    assertThat(h.get("Authorization"))
        .startsWith("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/")
        .contains("/eu-west-1/s3/aws4_request")
        .contains("SignedHeaders=")
        .contains("Signature=")
        .doesNotContain("wJalrXUtnFEMI");
    assertThat(h.get("x-amz-content-sha256")).isEqualTo("UNSIGNED-PAYLOAD");
    assertThat(h.get("X-Amz-Date")).matches("\\d{8}T\\d{6}Z");
    assertThat(h.get("X-Amz-Security-Token")).isEqualTo("session-token-1");
    assertThat(h.getAll("Host")).containsExactly("127.0.0.1:9000");
    assertThat(s.toString()).doesNotContain("wJalrXUtnFEMI");
  }

  @Test
  void signatureAndCredentialErrorsAreRefusalsAndAccessDeniedIsAMissingKey() {
    S3Signer s = signer(AwsBasicCredentials.create("AKIDEXAMPLE", "secret"));
    for (String code :
        new String[] {"SignatureDoesNotMatch", "InvalidAccessKeyId", "ExpiredToken"}) {
      assertThat(s.mayRefuse(403)).isTrue();
      assertThat(s.refusal(403, error(code))).as(code).contains(code);
    }
    assertThat(s.refusal(403, error("AccessDenied")))
        .as("S3's answer for a missing key without list permission")
        .isNull();
    assertThat(s.refusal(403, new byte[0]))
        .as("a HEAD's 403 has no body: absent")
        .isNull();
    assertThat(s.refusal(400, error("InvalidArgument"))).isNull();
    assertThat(s.mayRefuse(404)).isFalse();
    assertThat(s.probeWithHead()).isFalse();
  }

  @Test
  void withoutAnyCredentialsRequestsGoUnsignedAndAccessDeniedIsTheRefusal() {
    S3Credentials none = S3Credentials.start(
        "none",
        () -> {
          throw software.amazon.awssdk.core.exception.SdkClientException.create(
              "no credentials anywhere");
        },
        timer);
    S3Signer s = new S3Signer(S3Location.parse("s3://cache?endpoint=127.0.0.1:9000"), none);
    HttpHeaders h = new DefaultHttpHeaders().set("Host", "127.0.0.1:9000");
    s.authorize(HttpMethod.GET, "127.0.0.1:9000", "/cache/nix-cache-info", h);
    assertThat(h.contains("Authorization")).isFalse();
    assertThat(s.refusal(403, error("AccessDenied"))).contains("no AWS credentials");
  }

  @Test
  void errorCodeReadsS3sXml() {
    assertThat(S3Signer.errorCode(error("NoSuchKey"))).isEqualTo("NoSuchKey");
    assertThat(S3Signer.errorCode("<html>nope</html>".getBytes(StandardCharsets.UTF_8)))
        .isNull();
    assertThat(S3Signer.errorCode(null)).isNull();
  }
}

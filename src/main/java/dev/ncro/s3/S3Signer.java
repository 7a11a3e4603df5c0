package dev.ncro.s3;

import dev.ncro.config.S3Location;
import dev.ncro.upstream.RequestAuth;
import io.netty.handler.codec.http.HttpHeaders;
import io.netty.handler.codec.http.HttpMethod;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import software.amazon.awssdk.http.SdkHttpMethod;
import software.amazon.awssdk.http.SdkHttpRequest;
import software.amazon.awssdk.http.auth.aws.signer.AwsV4HttpSigner;
import software.amazon.awssdk.identity.spi.AwsCredentialsIdentity;

/**
 * Signs each request to one S3 bucket with AWS Signature Version 4 (the AWS SDK's signer, with
 * S3's rules: no double URL-encoding, no path normalisation, unsigned payload since GET and HEAD
 * have none), and recognises S3's refusals. Only the headers change: the request itself still
 * goes through ncro's own client, so NAR streaming, Range resume, timeouts and metrics are the
 * same as for any upstream.
 *
 * <p>S3 answers 403 both for a missing key (when the caller may not list the bucket) and for a bad
 * signature; only the XML error {@code Code} tells them apart. A refusal of the credentials makes
 * the upstream unauthorized; {@code AccessDenied} is a missing key, unless ncro had no credentials
 * at all, in which case it is the refusal.
 */
public final class S3Signer implements RequestAuth {
  /** Error codes that mean "your credentials are wrong", not "no such key". */
  static final Set<String> AUTH_CODES = Set.of(
      "SignatureDoesNotMatch",
      "InvalidAccessKeyId",
      "ExpiredToken",
      "InvalidToken",
      "TokenRefreshRequired",
      "AuthorizationHeaderMalformed",
      "RequestTimeTooSkewed",
      "InvalidSecurity");

  private static final Set<String> EXPIRED =
      Set.of("ExpiredToken", "TokenRefreshRequired", "InvalidToken");
  private static final Pattern CODE = Pattern.compile("<Code>\\s*([A-Za-z0-9.]{1,64})\\s*</Code>");
  private static final AwsV4HttpSigner SIGNER = AwsV4HttpSigner.create();

  private final S3Location location;
  private final S3Credentials credentials;

  S3Signer(S3Location location, S3Credentials credentials) {
    this.location = location;
    this.credentials = credentials;
  }

  @Override
  public void authorize(HttpMethod method, String host, String pathAndQuery, HttpHeaders headers) {
    AwsCredentialsIdentity c = credentials.current();
    if (c == null) {
      return; // anonymous: a public bucket answers, a private one refuses (see refusal)
    }
    // The scheme is not part of a SigV4 signature; the Host header is, exactly as sent.
    SdkHttpRequest request = SdkHttpRequest.builder()
        .method(SdkHttpMethod.fromValue(method.name()))
        .uri(URI.create(location.scheme() + "://" + host + pathAndQuery))
        .putHeader("Host", host)
        .build();
    SdkHttpRequest signed = SIGNER
        .sign(r -> r.identity(c)
            .request(request)
            .putProperty(AwsV4HttpSigner.REGION_NAME, location.region())
            .putProperty(AwsV4HttpSigner.SERVICE_SIGNING_NAME, "s3")
            .putProperty(AwsV4HttpSigner.DOUBLE_URL_ENCODE, false)
            .putProperty(AwsV4HttpSigner.NORMALIZE_PATH, false)
            .putProperty(AwsV4HttpSigner.PAYLOAD_SIGNING_ENABLED, false))
        .request();
    signed.forEachHeader((name, values) -> {
      if (!name.equalsIgnoreCase("Host")) {
        headers.set(name, values);
      }
    });
  }

  @Override
  public String scheme() {
    return "aws-sigv4";
  }

  @Override
  public String toString() {
    return "RequestAuth[aws-sigv4, redacted]";
  }

  @Override
  public boolean mayRefuse(int status) {
    return status == 400 || status == 401 || status == 403;
  }

  @Override
  public String refusal(int status, byte[] body) {
    String code = errorCode(body);
    if (code != null && AUTH_CODES.contains(code)) {
      if (EXPIRED.contains(code)) {
        credentials.refreshSoon();
      }
      return "S3 " + code + " (status " + status + ")";
    }
    if (status == 403 && credentials.current() == null) {
      return "S3 refused an unsigned request (no AWS credentials found)"
          + (code == null ? "" : ": " + code);
    }
    return null;
  }

  @Override
  public boolean probeWithHead() {
    return false; // a HEAD 403 has no body: a refusal would look like a missing nix-cache-info
  }

  /** The {@code <Code>} of an S3 XML error body, or null. */
  static String errorCode(byte[] body) {
    if (body == null || body.length == 0) {
      return null;
    }
    Matcher m =
        CODE.matcher(new String(body, 0, Math.min(body.length, 16 * 1024), StandardCharsets.UTF_8));
    return m.find() ? m.group(1) : null;
  }
}

package dev.ncro.config;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.net.URI;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

class S3LocationTest {
  @Test
  void defaultsAreNixs() {
    S3Location s = S3Location.parse("s3://nix-cache");
    assertThat(s.bucket()).isEqualTo("nix-cache");
    assertThat(s.prefix()).isEmpty();
    assertThat(s.region()).isEqualTo("us-east-1");
    assertThat(s.scheme()).isEqualTo("https");
    assertThat(s.endpoint()).isEmpty();
    assertThat(s.profile()).isEmpty();
    assertThat(s.pathStyle()).as("AWS itself: virtual-hosted").isFalse();
    assertThat(s.httpBase()).isEqualTo(URI.create("https://nix-cache.s3.us-east-1.amazonaws.com"));
    assertThat(s.canonical()).isEqualTo(URI.create("s3://nix-cache"));
    assertThat(s.display()).isEqualTo("s3://nix-cache");
  }

  @Test
  void anEndpointMeansPathStyleAndTheGivenScheme() {
    S3Location s = S3Location.parse(
        "s3://cache/team/x86?region=eu-central-1&endpoint=minio.lan:9000&scheme=http&profile=ci");
    assertThat(s.prefix()).isEqualTo("team/x86");
    assertThat(s.pathStyle()).isTrue();
    assertThat(s.httpBase()).isEqualTo(URI.create("http://minio.lan:9000/cache/team/x86"));
    assertThat(s.profile()).isEqualTo("ci");
    assertThat(s.canonical())
        .as("no profile in the name: it picks credentials, not content")
        .isEqualTo(URI.create(
            "s3://cache/team/x86?region=eu-central-1&endpoint=minio.lan:9000&scheme=http"));
    assertThat(s.display()).isEqualTo("s3://cache/team/x86 @ minio.lan:9000");
  }

  @Test
  void addressingStyleOverridesTheDefaultEitherWay() {
    assertThat(S3Location.parse("s3://cache?endpoint=garage.lan:3900&addressing_style=virtual")
            .httpBase())
        .isEqualTo(URI.create("https://cache.garage.lan:3900"));
    assertThat(S3Location.parse("s3://cache?region=eu-west-1&addressing_style=path")
            .httpBase())
        .isEqualTo(URI.create("https://s3.eu-west-1.amazonaws.com/cache"));
  }

  @Test
  void anEndpointMayCarryItsScheme() {
    S3Location s = S3Location.parse("s3://cache?endpoint=http://127.0.0.1:9000");
    assertThat(s.scheme()).isEqualTo("http");
    assertThat(s.endpoint()).isEqualTo("127.0.0.1:9000");
    assertThat(s.httpBase()).isEqualTo(URI.create("http://127.0.0.1:9000/cache"));
  }

  @Test
  void aDottedBucketOnAwsOverHttpsIsAddressedByPath() {
    // A dot in the host would fall outside the *.s3.amazonaws.com certificate.
    assertThat(S3Location.parse("s3://cache.example.org").httpBase())
        .isEqualTo(URI.create("https://s3.us-east-1.amazonaws.com/cache.example.org"));
  }

  @Test
  void anIpv6EndpointWorksAndItsNameParsesBack() {
    S3Location s = S3Location.parse("s3://cache?endpoint=[::1]:9000&scheme=http");
    assertThat(s.httpBase()).isEqualTo(URI.create("http://[::1]:9000/cache"));
    assertThat(S3Location.parse(s.canonical().toString())).isEqualTo(s);
  }

  @Test
  void trailingSlashesAndDoubleSlashesInThePrefixAreDropped() {
    assertThat(S3Location.parse("s3://cache//a//b/").prefix()).isEqualTo("a/b");
    assertThat(S3Location.parse("s3://cache/").prefix()).isEmpty();
  }

  @Test
  void theSameBucketNamesTheSameUpstreamWhateverTheOrderAndDefaults() {
    assertThat(S3Location.parse("s3://ccc?scheme=https&region=us-east-1&endpoint=h:1")
            .canonical())
        .isEqualTo(S3Location.parse("s3://ccc?endpoint=h:1").canonical());
  }

  @ParameterizedTest(name = "{0} -> {1}")
  @CsvSource(
      delimiter = '|',
      value = {
        "s3://                                   | bucket",
        "s3://a                                  | bucket",
        "s3://bad_bucket!                        | bucket",
        "s3://user:pass@bucket                   | bucket",
        "s3://cache?region=EU_WEST               | region",
        "s3://cache?region=                      | region",
        "s3://cache?scheme=ftp                   | scheme",
        "s3://cache?endpoint=https://h&scheme=http | scheme",
        "s3://cache?endpoint=host:0              | endpoint",
        "s3://cache?endpoint=host:99999          | endpoint",
        "s3://cache?endpoint=host/path           | endpoint",
        "s3://cache?profile=a%20b                | profile",
        "s3://cache?addressing_style=dns         | addressing_style",
        "s3://Cache_1?addressing_style=virtual   | addressing_style",
        "s3://cache?secret-key=/etc/key          | secret-key",
        "s3://cache?region=a&region=b            | region",
        "s3://cache/a%20b                        | prefix",
        "s3://cache/../x                         | prefix",
        "s3://cache#frag                         | url",
      })
  void malformedUrlsNameTheParameter(String url, String parameter) {
    assertThatThrownBy(() -> S3Location.parse(url))
        .isInstanceOfSatisfying(
            S3Location.Malformed.class, e -> assertThat(e.parameter()).isEqualTo(parameter));
  }

  @Test
  void credentialsWrittenIntoTheUrlAreNeverEchoed() {
    assertThatThrownBy(() -> S3Location.parse("s3://AKIAXXX:topsecret@bucket"))
        .hasMessageNotContaining("topsecret");
  }
}

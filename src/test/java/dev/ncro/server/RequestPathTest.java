package dev.ncro.server;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.junit.jupiter.api.Test;

class RequestPathTest {
  private static final String HASH = "0123456789abcdfghijklmnpqrsvwxyz";

  @Test
  void knownShapes() {
    assertThat(RequestPath.classify("/nix-cache-info")).isEqualTo(new Target.NixCacheInfo());
    assertThat(RequestPath.classify("/health")).isEqualTo(new Target.Health());
    assertThat(RequestPath.classify("/" + HASH + ".narinfo")).isEqualTo(new Target.Narinfo(HASH));
    assertThat(RequestPath.classify("/nar/1abc.nar.xz")).isEqualTo(new Target.Nar("nar/1abc.nar.xz"));
    assertThat(RequestPath.classify("/nar/x.nar.zst?hash=abc")).isEqualTo(new Target.Nar("nar/x.nar.zst?hash=abc"));
    assertThat(RequestPath.classify("/other")).isEqualTo(new Target.NotFound());
    assertThat(RequestPath.classify("/")).isEqualTo(new Target.StatusPage());
    assertThat(RequestPath.classify("/ui")).isEqualTo(new Target.StatusPage());
    assertThat(RequestPath.classify("/status")).isEqualTo(new Target.Status());
    assertThat(RequestPath.classify("/metrics")).isEqualTo(new Target.Metrics());
  }

  @ParameterizedTest
  @ValueSource(strings = {
      "/eeee456789abcdfghijklmnpqrsvwxyz.narinfo", // 'e' is not in Nix base32
      "/0123456789abcdfghijklmnpqrsvwxy.narinfo", // 31 chars
      "/0123456789abcdfghijklmnpqrsvwxyzz.narinfo", // 33 chars
      "/../etc/passwd",
      "/nar/../secret",
      "/nar/%2e%2e/secret",
      "/nar/a%2fb",
      "/nar/a/b",
      "/nar/",
      "//evil.example/x",
      "http://evil.example/x",
      "*",
      "/nar/a\\b",
      "/nar/a b",
      "/nix-cache-info/.",
      "/a//b",
  })
  void malformedIsRejectedWith4xx(String uri) {
    Target t = RequestPath.classify(uri);
    assertThat(t).isInstanceOf(Target.Rejected.class);
    assertThat(((Target.Rejected) t).status()).isBetween(400, 499);
  }

  @Test
  void overlongUriIsRejected() {
    Target t = RequestPath.classify("/nar/" + "a".repeat(2000));
    assertThat(t).isEqualTo(new Target.Rejected(414, "URI too long"));
  }
}

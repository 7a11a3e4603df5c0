package dev.ncro.config;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.ncro.config.PathFilter.Action;
import dev.ncro.config.PathFilter.Field;
import dev.ncro.narinfo.NarInfo;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/** The glob, what each field matches, and the rule "deny wins; with any allow rule, one must match". */
class PathFilterTest {
  private static final String H = "0123456789abcdfghijklmnpqrsvwxyz";
  private static final String GLIBC = "zyxwvsrqpnmlkjihgfdcba9876543210-glibc-2.39";

  private static NarInfo hello(String deriver) throws Exception {
    return NarInfo.parse(
        "StorePath: /nix/store/" + H + "-hello-2.12\nURL: nar/x.nar.xz\nCompression: xz\n"
            + "NarHash: sha256:1b8m03r63zqhnjf7l5wnldhh7c134ap5vpj0850ymkq1iyzicy5s\nNarSize: 10\n"
            + "References: " + H + "-hello-2.12 " + GLIBC + "\n"
            + (deriver == null ? "" : "Deriver: " + deriver + "\n"));
  }

  private static PathFilters rules(PathFilter... r) {
    return new PathFilters(List.of(r));
  }

  @ParameterizedTest
  @CsvSource({
    "hello-*, hello-2.12, true",
    "hello-*, hello, false",
    "*, '', true",
    "*, anything, true",
    "hello, hello, true",
    "hello, hello-2.12, false",
    "*-2.12, hello-2.12, true",
    "h*o*2, hello-2, true",
    "h*o*2, hello-3, false",
    "a*a, a, false",
    "a*a, aa, true",
    "*lo*lo*, hello-lo, true",
    "*lo*lo*, hello, false",
    "**, x, true",
    "mycorp-*, mycorp-tool-1.0, true",
    "mycorp-*, notmycorp-tool, false"
  })
  void globMatchesTheWholeValueWithStarAsTheOnlyWildcard(
      String pattern, String text, boolean expected) {
    assertThat(PathFilter.glob(pattern, text)).isEqualTo(expected);
  }

  @Test
  void nameIsWhatFollowsTheHashAndItsDash() throws Exception {
    NarInfo info = hello(null);
    assertThat(info.name()).isEqualTo("hello-2.12");
    assertThat(rules(new PathFilter(Action.DENY, Field.NAME, "hello-*")).admits(info))
        .isFalse();
    // A name pattern is not matched against the full path: no hash, no store directory.
    assertThat(rules(new PathFilter(Action.DENY, Field.NAME, H + "-hello-*")).admits(info))
        .isTrue();
  }

  @Test
  void storePathReferenceAndDeriverAreFullStorePaths() throws Exception {
    NarInfo info = hello("abcdfghijklmnpqrsvwxyz0123456789-hello-2.12.drv");
    assertThat(rules(new PathFilter(Action.DENY, Field.STORE_PATH, "/nix/store/" + H + "-*"))
            .admits(info))
        .isFalse();
    assertThat(rules(new PathFilter(Action.DENY, Field.STORE_PATH, "hello-*")).admits(info))
        .isTrue();
    assertThat(rules(new PathFilter(Action.DENY, Field.REFERENCE, "/nix/store/*-glibc-*"))
            .admits(info))
        .isFalse();
    assertThat(
            rules(new PathFilter(Action.DENY, Field.REFERENCE, "*-openssl-*")).admits(info))
        .isTrue();
    assertThat(rules(new PathFilter(Action.DENY, Field.DERIVER, "/nix/store/*-hello-*.drv"))
            .admits(info))
        .isFalse();
    assertThat(
            rules(new PathFilter(Action.DENY, Field.DERIVER, "*-other-*.drv")).admits(info))
        .isTrue();
  }

  @Test
  void withoutADeriverNoDeriverPatternMatches() throws Exception {
    for (String none : new String[] {null, "unknown-deriver"}) {
      NarInfo info = hello(none);
      assertThat(info.deriver()).isNull();
      assertThat(rules(new PathFilter(Action.DENY, Field.DERIVER, "*")).admits(info))
          .isTrue();
      assertThat(rules(new PathFilter(Action.ALLOW, Field.DERIVER, "*")).admits(info))
          .isFalse();
    }
  }

  @Test
  void denyWinsAndAnyAllowRuleMakesAllowingNecessary() throws Exception {
    NarInfo info = hello(null);
    assertThat(PathFilters.NONE.admits(info)).isTrue();
    PathFilter allowHello = new PathFilter(Action.ALLOW, Field.NAME, "hello-*");
    PathFilter allowCorp = new PathFilter(Action.ALLOW, Field.NAME, "mycorp-*");
    PathFilter denyHello = new PathFilter(Action.DENY, Field.NAME, "*-2.12");
    assertThat(rules(allowHello).admits(info)).isTrue();
    assertThat(rules(allowCorp).admits(info)).isFalse();
    assertThat(rules(allowCorp, allowHello).admits(info)).isTrue();
    // Deny wins, whatever the order.
    assertThat(rules(allowHello, denyHello).admits(info)).isFalse();
    assertThat(rules(denyHello, allowHello).admits(info)).isFalse();
    // Deny rules alone admit everything they do not match.
    assertThat(rules(new PathFilter(Action.DENY, Field.NAME, "firefox-*")).admits(info))
        .isTrue();
  }

  @ParameterizedTest
  @CsvSource(
      delimiter = '|',
      value = {
        "NAME|''|must not be empty", "NAME|hello-[0-9]*|'[' cannot occur",
            "NAME|{a,b}|'{' cannot occur",
        "NAME|hello-?|'?' cannot occur", "NAME|a b|' ' cannot occur",
            "NAME|/nix/store/*|a name has no '/'",
        "STORE_PATH|/nix/store/\\*|'\\' cannot occur"
      })
  void patternsThatWouldSilentlyMatchNothingAreRefused(
      Field field, String pattern, String message) {
    assertThatThrownBy(() -> new PathFilter(Action.DENY, field, pattern))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining(message);
  }
}

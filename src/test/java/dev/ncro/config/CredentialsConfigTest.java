package dev.ncro.config;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Upstream credentials and trust in the config: every bad setting names its field, path and line. */
class CredentialsConfigTest {
  private static final String SECRET = "s3cr3t-value";

  @TempDir
  Path dir;

  private Path file(String name, String content) throws Exception {
    Path p = dir.resolve(name);
    Files.writeString(p, content);
    return p;
  }

  private static String upstream(String extra) {
    return "upstreams:\n  - url: \"https://cache.example.com\"\n" + extra;
  }

  @Test
  void passwordFileAndBearerTokenFileAreReadWithOneTrailingNewlineRemoved() throws Exception {
    Path pw = file("pw", SECRET + "\n");
    Config c =
        YamlConfigs.load(upstream("    username: alice\n    password_file: \"" + pw + "\"\n"));
    assertThat(fromFile(c.upstreams().get(0).credentials()))
        .isEqualTo(new UpstreamCredentials.Basic("alice", SECRET, "password_file"));
    assertThat(c.upstreams().get(0).toString()).doesNotContain(SECRET);
    Path tok = file("tok", SECRET + "\r\n");
    c = YamlConfigs.load(upstream("    bearer_token_file: \"" + tok + "\"\n"));
    assertThat(fromFile(c.upstreams().get(0).credentials()))
        .isEqualTo(new UpstreamCredentials.Bearer(SECRET, "bearer_token_file"));
    assertThat(c.toString()).doesNotContain(SECRET);
  }

  @Test
  void badCredentialSettingsNameTheField() throws Exception {
    Path pw = file("pw", SECRET);
    assertThat(YamlConfigs.problems(
            upstream("    username: a\n    password: x\n    password_file: \"" + pw + "\"\n")))
        .singleElement()
        .asString()
        .startsWith("upstreams[0].password: password and password_file are mutually exclusive");
    assertThat(YamlConfigs.problems(upstream("    password_file: \"" + pw + "\"\n")))
        .singleElement()
        .asString()
        .startsWith("upstreams[0].username: required with password_file");
    assertThat(YamlConfigs.problems(upstream("    username: a\n")))
        .singleElement()
        .asString()
        .startsWith("upstreams[0].username: needs password_file");
    assertThat(YamlConfigs.problems(upstream("    username: a\n    password_file: \"" + pw
            + "\"\n    bearer_token_file: \"" + pw + "\"\n")))
        .singleElement()
        .asString()
        .startsWith("upstreams[0].bearer_token_file: cannot be combined");
  }

  @Test
  void unreadableOrMalformedFilesNameFieldPathAndLine() throws Exception {
    Path missing = dir.resolve("nope");
    assertThat(YamlConfigs.problems(
            upstream("    username: a\n    password_file: \"" + missing + "\"\n")))
        .containsExactly("upstreams[0].password_file: " + missing + ": no such file");
    Path twoLines = file("two", SECRET + "\nsecond\n");
    assertThat(YamlConfigs.problems(upstream("    bearer_token_file: \"" + twoLines + "\"\n")))
        .containsExactly("upstreams[0].bearer_token_file: " + twoLines
            + ": line 2: more than one line (only one trailing newline is removed)");
    Path empty = file("empty", "\n");
    assertThat(YamlConfigs.problems(upstream("    bearer_token_file: \"" + empty + "\"\n")))
        .containsExactly("upstreams[0].bearer_token_file: " + empty + ": empty");
    Path netrc = file("netrc", "machine cache.example.com\n  password " + SECRET + " oops\n");
    List<String> p = YamlConfigs.problems("netrc_file: \"" + netrc + "\"\n" + upstream(""));
    assertThat(p)
        .singleElement()
        .asString()
        .startsWith("netrc_file: " + netrc + ": line 2: ")
        .doesNotContain(SECRET);
    assertThat(YamlConfigs.problems(upstream("    bearer_token_file: \"" + dir + "\"\n")))
        .containsExactly("upstreams[0].bearer_token_file: " + dir + ": not a regular file");
    Path notPem = file("ca.pem", "not a certificate\n");
    assertThat(YamlConfigs.problems(upstream("    ca_file: \"" + notPem + "\"\n")))
        .singleElement()
        .asString()
        .startsWith("upstreams[0].ca_file: " + notPem + ": ");
  }

  @Test
  void netrcAppliesByHostAndExplicitCredentialsWin() throws Exception {
    Path netrc = file(
        "netrc",
        "machine cache.example.com password " + SECRET + "\ndefault login d password dpw\n");
    Path pw = file("pw", "explicit\n");
    Config c = YamlConfigs.load("netrc_file: \"" + netrc + "\"\nupstreams:\n"
        + "  - url: \"https://cache.example.com\"\n"
        + "  - url: \"https://other.example.com\"\n"
        + "  - url: \"https://third.example.com\"\n    username: u\n    password_file: \"" + pw
        + "\"\n");
    assertThat(fromFile(c.upstreams().get(0).credentials()))
        .isEqualTo(new UpstreamCredentials.Basic("", SECRET, "netrc_file line 1"));
    assertThat(fromFile(c.upstreams().get(1).credentials()))
        .isEqualTo(new UpstreamCredentials.Basic("d", "dpw", "netrc_file line 2"));
    assertThat(fromFile(c.upstreams().get(2).credentials()))
        .isEqualTo(new UpstreamCredentials.Basic("u", "explicit", "password_file"));
  }

  /** The credentials as read at start-up, asserting that they will be read again when their file changes. */
  static UpstreamCredentials fromFile(UpstreamCredentials c) {
    assertThat(c).isInstanceOf(UpstreamCredentials.FromFile.class);
    return ((UpstreamCredentials.FromFile) c).initial();
  }

  @Test
  void credentialFilesAreReadAgainWithTheChecksOfStartUp() throws Exception {
    Path pw = file("pw", SECRET + "\n");
    Path tok = file("tok", SECRET + "\n");
    Path netrc = file("netrc", "machine other.example.com password x\n");
    Config c = YamlConfigs.load("netrc_file: \"" + netrc + "\"\nupstreams:\n"
        + "  - url: \"https://a.example.com\"\n    username: alice\n    password_file: \"" + pw
        + "\"\n  - url: \"https://b.example.com\"\n    bearer_token_file: \"" + tok + "\"\n"
        + "  - url: \"https://cache.example.com\"\n"
        + "  - url: \"https://inline.example.com\"\n    username: u\n    password: \"p\"\n");
    CredentialFile<UpstreamCredentials> pwFile =
        ((UpstreamCredentials.FromFile) c.upstreams().get(0).credentials()).file();
    CredentialFile<UpstreamCredentials> tokFile =
        ((UpstreamCredentials.FromFile) c.upstreams().get(1).credentials()).file();
    CredentialFile<UpstreamCredentials> netrcFile =
        ((UpstreamCredentials.FromFile) c.upstreams().get(2).credentials()).file();
    assertThat(fromFile(c.upstreams().get(2).credentials())).isEqualTo(UpstreamCredentials.NONE);
    // Inline secrets have no file to follow.
    assertThat(c.upstreams().get(3).credentials())
        .isEqualTo(new UpstreamCredentials.Basic("u", "p", "password"));

    Files.writeString(pw, "rotated\n");
    Files.writeString(tok, "rotated-token");
    Files.writeString(
        netrc,
        "machine other.example.com password x\n"
            + "machine cache.example.com login bob password added\n");
    assertThat(pwFile.read())
        .isEqualTo(new UpstreamCredentials.Basic("alice", "rotated", "password_file"));
    assertThat(tokFile.read())
        .isEqualTo(new UpstreamCredentials.Bearer("rotated-token", "bearer_token_file"));
    assertThat(netrcFile.read())
        .isEqualTo(new UpstreamCredentials.Basic("bob", "added", "netrc_file line 2"));

    // A bad rewrite is an error naming the field and the path, never quoting the content.
    Files.writeString(pw, SECRET + "\nsecond line " + SECRET + "\n");
    assertThatThrownBy(pwFile::read)
        .isInstanceOf(IOException.class)
        .hasMessageContaining("password_file: " + pw + ": line 2")
        .message()
        .doesNotContain(SECRET);
    Files.writeString(netrc, "machine cache.example.com passwd " + SECRET + "\n");
    assertThatThrownBy(netrcFile::read)
        .hasMessageContaining("netrc_file: " + netrc + ": line 1")
        .message()
        .doesNotContain(SECRET);
    Files.delete(tok);
    assertThatThrownBy(tokFile::read)
        .hasMessageContaining("bearer_token_file: " + tok + ": no such file");
  }

  @Test
  void aPasswordThatIsNotAStringIsNotEchoed() {
    assertThat(YamlConfigs.problems(upstream("    username: a\n    password: 9812734\n")))
        .containsExactly("upstreams[0].password: expected a string (quote it: password: \"...\")");
  }

  @Test
  void aUrlWithUserInfoIsRefusedWithoutEchoingThePassword() {
    assertThat(YamlConfigs.problems(
            "upstreams:\n  - url: \"https://bob:" + SECRET + "@cache.example.com\"\n"))
        .singleElement()
        .asString()
        .startsWith("upstreams[0].url: \"https://<redacted>@cache.example.com\" has user info")
        .contains("password_file")
        .doesNotContain(SECRET);
  }
}

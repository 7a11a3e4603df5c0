package dev.ncro.upstream;

import static org.assertj.core.api.Assertions.assertThat;

import dev.ncro.config.Config;
import dev.ncro.config.ConfigLoader;
import dev.ncro.support.FileTimes;
import io.netty.handler.codec.http.DefaultHttpHeaders;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpHeaders;
import io.netty.handler.codec.http.HttpMethod;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.FileTime;
import java.util.Base64;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Credentials from a file follow the file: rotations are taken, bad rewrites are not. */
class ReloadingAuthTest {
  @TempDir
  Path dir;

  private Upstream upstream(String credentialYaml) throws Exception {
    Config c = ConfigLoader.load(
        "upstreams:\n  - url: \"https://cache.example.com\"\n" + credentialYaml,
        "t.yaml",
        Map.of());
    return new Upstream(c.upstreams().get(0), 0.3);
  }

  private static String header(Upstream u) {
    HttpHeaders h = new DefaultHttpHeaders();
    u.auth().authorize(HttpMethod.GET, "cache.example.com", "/nix-cache-info", h);
    return h.get(HttpHeaderNames.AUTHORIZATION);
  }

  private static String basic(String user, String password) {
    return "Basic "
        + Base64.getEncoder()
            .encodeToString((user + ":" + password).getBytes(StandardCharsets.UTF_8));
  }

  @Test
  void aRotatedTokenIsUsedAfterTheNextRefreshAndOnlyThen() throws Exception {
    Path tok = Files.writeString(dir.resolve("token"), "first\n");
    Upstream u = upstream("    bearer_token_file: \"" + tok + "\"\n");
    ReloadingAuth auth = (ReloadingAuth) u.auth();
    assertThat(header(u)).isEqualTo("Bearer first");
    assertThat(auth.refresh()).as("first look, same content").isFalse();
    assertThat(auth.refresh()).as("unchanged").isFalse();

    Files.writeString(tok, "second\n");
    FileTimes.bump(tok);
    assertThat(header(u)).as("requests never read the file").isEqualTo("Bearer first");
    assertThat(auth.refresh()).isTrue();
    assertThat(header(u)).isEqualTo("Bearer second");
    assertThat(auth.toString()).doesNotContain("second");

    // Touched or rewritten with the same secret: nothing changes, nothing to probe.
    FileTimes.bump(tok);
    assertThat(auth.refresh()).isFalse();
    assertThat(header(u)).isEqualTo("Bearer second");
  }

  @Test
  void aFileReplacedByRenameIsSeenEvenWithTheSameSizeAndTime() throws Exception {
    Path pw = Files.writeString(dir.resolve("pw"), "aaaa\n");
    Upstream u = upstream("    username: alice\n    password_file: \"" + pw + "\"\n");
    ReloadingAuth auth = (ReloadingAuth) u.auth();
    auth.refresh();
    FileTime t = Files.getLastModifiedTime(pw);
    Path next = Files.writeString(dir.resolve("pw.new"), "bbbb\n");
    Files.setLastModifiedTime(next, t);
    Files.move(next, pw, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
    assertThat(auth.refresh()).as("a new inode").isTrue();
    assertThat(header(u)).isEqualTo(basic("alice", "bbbb"));
    assertThat(u.credentialSource()).isEqualTo("password_file");
  }

  @Test
  void aBrokenOrMissingFileKeepsThePreviousCredentialsUntilItIsFixed() throws Exception {
    Path tok = Files.writeString(dir.resolve("token"), "good\n");
    Upstream u = upstream("    bearer_token_file: \"" + tok + "\"\n");
    ReloadingAuth auth = (ReloadingAuth) u.auth();
    auth.refresh();

    Files.writeString(tok, "");
    FileTimes.bump(tok);
    assertThat(auth.refresh()).isFalse();
    assertThat(header(u)).isEqualTo("Bearer good");

    Files.delete(tok);
    assertThat(auth.refresh()).isFalse();
    assertThat(header(u)).isEqualTo("Bearer good");

    Files.writeString(tok, "fixed\n");
    assertThat(auth.refresh()).isTrue();
    assertThat(header(u)).isEqualTo("Bearer fixed");
  }

  @Test
  void aNetrcEntryAddedForTheHostLaterIsUsed() throws Exception {
    Path netrc = Files.writeString(dir.resolve("netrc"), "machine other.example.com password x\n");
    Config c = ConfigLoader.load(
        "netrc_file: \"" + netrc + "\"\nupstreams:\n  - url: \"https://cache.example.com\"\n",
        "t.yaml",
        Map.of());
    Upstream u = new Upstream(c.upstreams().get(0), 0.3);
    ReloadingAuth auth = (ReloadingAuth) u.auth();
    assertThat(header(u)).isNull();
    assertThat(u.credentialSource()).isEqualTo("none");

    Files.writeString(
        netrc,
        "machine other.example.com password x\n"
            + "machine cache.example.com login bob password pw\n");
    FileTimes.bump(netrc);
    assertThat(auth.refresh()).isTrue();
    assertThat(header(u)).isEqualTo(basic("bob", "pw"));
    assertThat(u.credentialSource()).isEqualTo("netrc_file line 2");
  }
}

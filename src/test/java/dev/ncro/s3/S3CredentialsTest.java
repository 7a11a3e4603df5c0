package dev.ncro.s3;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.time.Instant;
import java.util.HashMap;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The credential chain's order, with environments and files made per test (never the machine's own
 * {@code ~/.aws}): environment first, then the shared files with the URL's profile, else
 * {@code AWS_PROFILE}, else "default"; and temporary credentials refreshed before they expire.
 */
class S3CredentialsTest {
  @TempDir
  Path home;

  private final ScheduledExecutorService timer = Executors.newSingleThreadScheduledExecutor();

  @AfterEach
  void stop() {
    timer.shutdownNow();
  }

  private Map<String, String> env(String... kv) {
    Map<String, String> env = new HashMap<>();
    env.put("HOME", home.toString());
    for (int i = 0; i < kv.length; i += 2) {
      env.put(kv[i], kv[i + 1]);
    }
    return env;
  }

  private void credentialsFile(String text) throws IOException {
    Files.createDirectories(home.resolve(".aws"));
    Files.writeString(home.resolve(".aws/credentials"), text);
  }

  private static String keyOf(String profile, Map<String, String> env) {
    return S3Credentials.chain(profile, env).resolveCredentials().accessKeyId();
  }

  private static String section(String name, String key) {
    return "[" + name + "]\naws_access_key_id = " + key + "\naws_secret_access_key = secret-" + key
        + "\n";
  }

  @Test
  void environmentVariablesComeFirst() throws IOException {
    credentialsFile(section("default", "AKIDFILE") + section("ci", "AKIDCI"));
    Map<String, String> env =
        env("AWS_ACCESS_KEY_ID", "AKIDENV", "AWS_SECRET_ACCESS_KEY", "s", "AWS_PROFILE", "ci");
    assertThat(keyOf("", env)).isEqualTo("AKIDENV");
    assertThat(keyOf("ci", env)).as("even with a profile in the URL").isEqualTo("AKIDENV");
  }

  @Test
  void aSessionTokenInTheEnvironmentMakesSessionCredentials() {
    var c = S3Credentials.chain(
            "",
            env(
                "AWS_ACCESS_KEY_ID",
                "ASIAENV",
                "AWS_SECRET_ACCESS_KEY",
                "s",
                "AWS_SESSION_TOKEN",
                "tok"))
        .resolveCredentials();
    assertThat(c).isInstanceOf(software.amazon.awssdk.auth.credentials.AwsSessionCredentials.class);
    assertThat(((software.amazon.awssdk.auth.credentials.AwsSessionCredentials) c).sessionToken())
        .isEqualTo("tok");
  }

  @Test
  void theUrlsProfileBeatsAwsProfileWhichBeatsDefault() throws IOException {
    credentialsFile(
        section("default", "AKIDDEFAULT") + section("a", "AKIDA") + section("b", "AKIDB"));
    assertThat(keyOf("a", env("AWS_PROFILE", "b"))).isEqualTo("AKIDA");
    assertThat(keyOf("", env("AWS_PROFILE", "b"))).isEqualTo("AKIDB");
    assertThat(keyOf("", env())).isEqualTo("AKIDDEFAULT");
    assertThat(S3Credentials.profileName("", env("AWS_PROFILE", "b"))).isEqualTo("b");
  }

  @Test
  void theConfigFileAndExplicitFileLocationsAreRead() throws IOException {
    Path creds = Files.writeString(home.resolve("creds.ini"), section("x", "AKIDX"));
    Path config = Files.writeString(home.resolve("config.ini"), section("profile y", "AKIDY"));
    Map<String, String> env =
        env("AWS_SHARED_CREDENTIALS_FILE", creds.toString(), "AWS_CONFIG_FILE", config.toString());
    assertThat(keyOf("x", env)).isEqualTo("AKIDX");
    assertThat(keyOf("y", env)).isEqualTo("AKIDY");
  }

  @Test
  void temporaryCredentialsAreResolvedAgainBeforeTheyExpire() throws Exception {
    // credential_process (in the shared config, as aws-vault or SSO helpers use it) hands out
    // credentials valid for 10 s, each with a new key id.
    Path counter = home.resolve("counter");
    Path script = home.resolve("creds.sh");
    Files.writeString(script, """
        #!/bin/sh
        n=$(( $(cat %1$s 2>/dev/null || echo 0) + 1 ))
        echo $n > %1$s
        exp=$(date -u -d '+10 seconds' +%%Y-%%m-%%dT%%H:%%M:%%SZ)
        printf '{"Version":1,"AccessKeyId":"ASIATEMP%%d","SecretAccessKey":"s","SessionToken":"t","Expiration":"%%s"}' $n $exp
        """.formatted(counter));
    Files.setPosixFilePermissions(script, PosixFilePermissions.fromString("rwx------"));
    credentialsFile("[temp]\ncredential_process = " + script + "\n");
    S3Credentials c = S3Credentials.start("temp", S3Credentials.chain("temp", env()), timer);

    String first = c.current().accessKeyId();
    assertThat(first).startsWith("ASIATEMP");
    assertThat(c.current().expirationTime()).isPresent();
    assertThat(S3Credentials.nextRefresh(c.current().expirationTime(), Instant.now()))
        .as("well before the expiry")
        .isLessThanOrEqualTo(Duration.ofSeconds(5));
    c.refresh();
    assertThat(c.current().accessKeyId())
        .as("new temporary credentials")
        .isNotEqualTo(first)
        .startsWith("ASIATEMP");
  }

  @Test
  void refreshScheduleHalvesTheRemainingLifetime() {
    Instant now = Instant.parse("2026-01-01T00:00:00Z");
    assertThat(S3Credentials.nextRefresh(Optional.empty(), now))
        .isEqualTo(S3Credentials.STATIC_REFRESH);
    assertThat(S3Credentials.nextRefresh(Optional.of(now.plusSeconds(120)), now))
        .isEqualTo(Duration.ofSeconds(60));
    assertThat(S3Credentials.nextRefresh(Optional.of(now.plusSeconds(3600)), now))
        .isEqualTo(S3Credentials.STATIC_REFRESH);
    assertThat(S3Credentials.nextRefresh(Optional.of(now.minusSeconds(5)), now))
        .isEqualTo(S3Credentials.MIN_REFRESH);
  }
}

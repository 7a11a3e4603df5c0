package dev.ncro.config;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/** {@code cache.store} and {@code cache.postgresql}: every field checked and named, the password from its file only. */
class StoreConfigTest {
  @TempDir
  Path dir;

  private String yaml(String postgresql) {
    return "cache:\n  store: postgresql\n  postgresql:\n" + postgresql;
  }

  @Test
  void sqliteIsTheDefault() throws Exception {
    assertThat(ConfigLoader.load((Path) null, Map.of()).cache().store())
        .isEqualTo(StoreConfig.SQLITE);
  }

  @Test
  void aLibpqUrlWithItsPasswordFile() throws Exception {
    Path pw = dir.resolve("pw");
    Files.writeString(pw, "s3cret\n");
    Config c = YamlConfigs.load(yaml(
        "    url: \"postgresql://ncro@db.internal:6543/routes?sslmode=verify-full&target_session_attrs=read-write\"\n"
            + "    password_file: \"" + pw + "\"\n"));
    StoreConfig.Postgresql p = (StoreConfig.Postgresql) c.cache().store();
    assertThat(p.jdbcUrl()).isEqualTo("jdbc:postgresql://db.internal:6543/routes");
    assertThat(p.user()).isEqualTo("ncro");
    assertThat(p.password()).isEqualTo("s3cret");
    assertThat(p.properties())
        .isEqualTo(Map.of("sslmode", "verify-full", "targetServerType", "primary"));
    assertThat(p.poolSize()).isEqualTo(8);
    assertThat(p.display())
        .isEqualTo("postgresql://ncro@db.internal:6543/routes?sslmode=verify-full");
    assertThat(p.toString()).doesNotContain("s3cret");
    assertThat(c.toString()).doesNotContain("s3cret");
  }

  @Test
  void aJdbcUrlPassesItsParametersThrough() throws Exception {
    Config c = YamlConfigs.load(yaml(
        "    url: \"jdbc:postgresql://a:5432,b/ncro?user=ncro&sslmode=require&tcpKeepAlive=true\"\n"
            + "    pool_size: 3\n"));
    StoreConfig.Postgresql p = (StoreConfig.Postgresql) c.cache().store();
    assertThat(p.hosts()).containsExactly("a:5432", "b:5432");
    assertThat(p.user()).isEqualTo("ncro");
    assertThat(p.properties()).isEqualTo(Map.of("sslmode", "require", "tcpKeepAlive", "true"));
    assertThat(p.password()).isEmpty();
    assertThat(p.poolSize()).isEqualTo(3);
  }

  @ParameterizedTest
  @CsvSource(
      delimiter = '|',
      value = {
        "mysql://x/y | expected postgresql://",
        "postgresql://ncro:hunter2@db/ncro | must not contain a password",
        "postgresql://ncro@db/ncro?password=hunter2 | must not carry password=",
        "jdbc:postgresql://db/ncro?password=hunter2 | must not carry password=",
        "postgresql://ncro@db | names no database",
        "postgresql://ncro@/ncro | has no host",
        "postgresql://ncro@db:99999/ncro | not in 1..65535",
        "postgresql://ncro@db/ncro?sslmode=maybe | sslmode=maybe is not one of",
        "postgresql://ncro@db/ncro?frobnicate=1 | unknown parameter \"frobnicate\"",
        "postgresql://ncro@db/ncro?target_session_attrs=sometimes | target_session_attrs=sometimes is not one of",
      })
  void aBadUrlIsNamedAndNeverQuotesAPassword(String url, String message) {
    assertThat(YamlConfigs.problems(yaml("    url: \"" + url + "\"\n")))
        .singleElement()
        .asString()
        .startsWith("cache.postgresql.url: ")
        .contains(message)
        .doesNotContain("hunter2");
  }

  @Test
  void otherFieldsAreCheckedAndNamed() {
    assertThat(YamlConfigs.problems("cache:\n  store: mysql\n"))
        .singleElement()
        .asString()
        .isEqualTo("cache.store: \"mysql\" is not one of sqlite, postgresql");
    assertThat(YamlConfigs.problems("cache:\n  store: postgresql\n"))
        .singleElement()
        .asString()
        .startsWith("cache.postgresql: required with store: postgresql");
    assertThat(YamlConfigs.problems(yaml("    password_file: \"/nonexistent/pw\"\n")))
        .containsExactlyInAnyOrder(
            "cache.postgresql.url: missing (postgresql://user@host:5432/database)",
            "cache.postgresql.password_file: /nonexistent/pw: no such file");
    assertThat(YamlConfigs.problems(yaml("    url: \"postgresql://n@h/d\"\n    pool_size: 0\n")))
        .singleElement()
        .asString()
        .startsWith("cache.postgresql.pool_size: 0 is out of range 1..1000");
    assertThat(YamlConfigs.problems(yaml("    url: \"postgresql://n@h/d\"\n    pasword_file: x\n")))
        .singleElement()
        .asString()
        .startsWith("cache.postgresql.pasword_file: unknown key");
  }

  @Test
  void aBuildTimeCheckDoesNotReadThePasswordFile() throws Exception {
    Path config = dir.resolve("ncro.yaml");
    Files.writeString(
        config,
        yaml(
            "    url: \"postgresql://ncro@localhost/ncro\"\n    password_file: \"/run/credentials/ncro.service/db-password\"\n"));
    Config c =
        ConfigLoader.load(config, Map.of("HOME", dir.toString()), ConfigLoader.SecretFiles.SKIP);
    assertThat(c.cache().store().kind()).isEqualTo("postgresql");
    assertThat(((StoreConfig.Postgresql) c.cache().store()).passwordFile())
        .isEqualTo(Path.of("/run/credentials/ncro.service/db-password"));
  }

  @Test
  void theOldConstructorMeansSqlite() {
    CacheConfig c = new CacheConfig(
        Path.of("/x.db"),
        1,
        Duration.ofHours(1),
        Duration.ofMinutes(1),
        0.3,
        Duration.ofSeconds(30));
    assertThat(c.store()).isEqualTo(StoreConfig.SQLITE);
    assertThatThrownBy(() -> PostgresUrl.parse("")).isInstanceOf(IllegalArgumentException.class);
    assertThat(List.of(c.store().kind())).containsExactly("sqlite");
  }
}

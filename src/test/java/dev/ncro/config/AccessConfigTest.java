package dev.ncro.config;

import static org.assertj.core.api.Assertions.assertThat;

import dev.ncro.access.AccessPolicy;
import dev.ncro.access.AccessPolicy.Scope;
import dev.ncro.access.Cidr;
import dev.ncro.access.Rejection;
import java.net.InetAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** server.allow, clients, admin_allow, trusted_proxies: what loads, and what is an error naming the field. */
class AccessConfigTest {
  @TempDir
  Path dir;

  @Test
  void theIssuesExampleLoads() throws Exception {
    Path ci = Files.writeString(dir.resolve("ci"), "s3cret\n");
    Path robot = Files.writeString(dir.resolve("robot"), "tok-123");
    Config c = YamlConfigs.load("""
        server:
          allow: ["127.0.0.0/8", "::1/128", "10.20.0.0/16"]
          clients:
            - username: "ci"
              password_file: "%s"
            - bearer_token_file: "%s"
          admin_allow: ["127.0.0.1/32", "::1"]
          trusted_proxies: ["192.0.2.10/32"]
        """.formatted(ci, robot));
    var a = c.server().access();
    assertThat(a.allow())
        .containsExactly(
            Cidr.parse("127.0.0.0/8"), Cidr.parse("::1/128"), Cidr.parse("10.20.0.0/16"));
    assertThat(a.adminAllow()).containsExactly(Cidr.parse("127.0.0.1/32"), Cidr.parse("::1/128"));
    assertThat(a.trustedProxies()).containsExactly(Cidr.parse("192.0.2.10/32"));
    assertThat(a.clients()).hasSize(2);
    assertThat(a.clients().toString())
        .as("no secret in a printed config")
        .doesNotContain("s3cret", "tok-123");
  }

  @Test
  void clientCredentialsFollowTheirFiles() throws Exception {
    Path token = Files.writeString(dir.resolve("robot"), "tok-1\n");
    AccessPolicy a = YamlConfigs.load(
            "server:\n  clients:\n    - bearer_token_file: \"" + token + "\"\n")
        .server()
        .access();
    InetAddress local = InetAddress.getLoopbackAddress();
    assertThat(a.check(local, List.of(), "Bearer tok-1", Scope.CACHE)).isNull();
    assertThat(a.refreshClients()).as("first look, same token").isFalse();

    Files.writeString(token, "tok-22\n");
    assertThat(a.check(local, List.of(), "Bearer tok-22", Scope.CACHE))
        .as("not before a refresh")
        .isEqualTo(Rejection.BAD_CREDENTIALS);
    assertThat(a.refreshClients()).isTrue();
    assertThat(a.check(local, List.of(), "Bearer tok-22", Scope.CACHE)).isNull();
    assertThat(a.check(local, List.of(), "Bearer tok-1", Scope.CACHE))
        .isEqualTo(Rejection.BAD_CREDENTIALS);
    assertThat(a.clients().toString()).doesNotContain("tok-");
  }

  @Test
  void badNetworksAreErrorsNamingTheEntry() {
    assertThat(YamlConfigs.problems("server:\n  allow: ['10.0.0.0/33']\n"))
        .singleElement()
        .asString()
        .startsWith("server.allow[0]: ")
        .contains("prefix length 33");
    assertThat(YamlConfigs.problems("server:\n  admin_allow: ['127.0.0.1', 'localhost']\n"))
        .singleElement()
        .asString()
        .startsWith("server.admin_allow[1]: ")
        .contains("not an IP network");
    assertThat(YamlConfigs.problems("server:\n  trusted_proxies: ['10.1.2.3/8']\n"))
        .singleElement()
        .asString()
        .startsWith("server.trusted_proxies[0]: ")
        .contains("host bits set", "10.0.0.0/8");
    assertThat(YamlConfigs.problems("server:\n  allow: [12]\n"))
        .singleElement()
        .asString()
        .startsWith("server.allow[0]: expected a network");
    assertThat(YamlConfigs.problems("server:\n  allow: '10.0.0.0/8'\n"))
        .singleElement()
        .asString()
        .startsWith("server.allow: expected a list");
  }

  @Test
  void clientEntriesNeedExactlyOneCredential() throws Exception {
    Path pw = Files.writeString(dir.resolve("pw"), "x\n");
    assertThat(YamlConfigs.problems("server:\n  clients:\n    - {}\n"))
        .singleElement()
        .asString()
        .isEqualTo("server.clients[0]: needs username and password_file, or bearer_token_file");
    assertThat(YamlConfigs.problems("server:\n  clients:\n    - username: ci\n"))
        .singleElement()
        .asString()
        .isEqualTo("server.clients[0].password_file: missing");
    assertThat(YamlConfigs.problems("server:\n  clients:\n    - password_file: " + pw + "\n"))
        .singleElement()
        .asString()
        .isEqualTo("server.clients[0].username: missing");
    assertThat(YamlConfigs.problems("server:\n  clients:\n    - username: ci\n      password_file: "
            + pw + "\n      bearer_token_file: " + pw + "\n"))
        .singleElement()
        .asString()
        .startsWith("server.clients[0]: has both");
    assertThat(YamlConfigs.problems(
            "server:\n  clients:\n    - username: 'a:b'\n      password_file: " + pw + "\n"))
        .singleElement()
        .asString()
        .startsWith("server.clients[0].username: must not contain ':'");
    assertThat(YamlConfigs.problems("server:\n  clients:\n    - token_file: " + pw + "\n"))
        .first()
        .asString()
        .startsWith("server.clients[0].token_file: unknown key");
  }

  @Test
  void unreadableOrEmptyCredentialFilesAreErrorsThatNeverShowTheSecret() throws Exception {
    assertThat(YamlConfigs.problems(
            "server:\n  clients:\n    - bearer_token_file: " + dir.resolve("none") + "\n"))
        .singleElement()
        .asString()
        .isEqualTo(
            "server.clients[0].bearer_token_file: " + dir.resolve("none") + ": no such file");
    Path empty = Files.writeString(dir.resolve("empty"), "\n");
    assertThat(YamlConfigs.problems(
            "server:\n  clients:\n    - username: ci\n      password_file: " + empty + "\n"))
        .singleElement()
        .asString()
        .isEqualTo("server.clients[0].password_file: " + empty + ": empty");
    assertThat(YamlConfigs.problems("server:\n  clients:\n    - bearer_token_file: " + dir + "\n"))
        .singleElement()
        .asString()
        .isEqualTo("server.clients[0].bearer_token_file: " + dir + ": not a regular file");
    assertThat(YamlConfigs.problems("server:\n  clients:\n    - bearer_token_file: /dev/zero\n"))
        .singleElement()
        .asString()
        .isEqualTo("server.clients[0].bearer_token_file: /dev/zero: not a regular file");
    Path big = Files.writeString(dir.resolve("big"), "TOPSECRET".repeat(200_000));
    assertThat(YamlConfigs.problems("server:\n  clients:\n    - bearer_token_file: " + big + "\n"))
        .singleElement()
        .asString()
        .contains("larger than")
        .doesNotContain("TOPSECRET");
    if (!System.getProperty("user.name").equals("root")) {
      Path locked = Files.writeString(dir.resolve("locked"), "TOPSECRET");
      Files.setPosixFilePermissions(locked, PosixFilePermissions.fromString("---------"));
      assertThat(YamlConfigs.problems(
              "server:\n  clients:\n    - bearer_token_file: " + locked + "\n"))
          .singleElement()
          .asString()
          .contains("permission denied");
    }
  }
}

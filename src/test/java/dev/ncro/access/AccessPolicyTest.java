package dev.ncro.access;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.ncro.access.AccessPolicy.Scope;
import java.net.InetAddress;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.Base64;
import java.util.List;
import org.junit.jupiter.api.Test;

/** The decision alone: networks, forwarded addresses, credentials, in the order the gate applies them. */
class AccessPolicyTest {
  private static InetAddress ip(String s) throws Exception {
    return InetAddress.getByName(s); // literals only: no DNS
  }

  private static List<Cidr> nets(String... s) {
    return Arrays.stream(s).map(Cidr::parse).toList();
  }

  private static String basic(String userPass) {
    return "Basic " + Base64.getEncoder().encodeToString(userPass.getBytes(StandardCharsets.UTF_8));
  }

  @Test
  void cidrsMatchTheirNetworkOnlyAndIpv4MappedAddressesAsIpv4() throws Exception {
    Cidr lo = Cidr.parse("127.0.0.0/8");
    assertThat(lo.contains(ip("127.0.0.2"))).isTrue();
    assertThat(lo.contains(ip("128.0.0.1"))).isFalse();
    assertThat(lo.contains(ip("::ffff:127.0.0.9"))).isTrue();
    assertThat(lo.contains(ip("::1"))).isFalse();
    assertThat(Cidr.parse("2001:db8::/32").contains(ip("2001:db8:1::5"))).isTrue();
    assertThat(Cidr.parse("2001:db8::/32").contains(ip("2001:db9::5"))).isFalse();
    assertThat(Cidr.parse("10.20.0.0/16").contains(ip("10.20.255.1"))).isTrue();
    assertThat(Cidr.parse("10.20.0.0/16").contains(ip("10.21.0.1"))).isFalse();
    assertThat(Cidr.parse("0.0.0.0/0").contains(ip("203.0.113.1"))).isTrue();
    assertThat(Cidr.parse("192.0.2.7").toString()).isEqualTo("192.0.2.7/32");
    assertThatThrownBy(() -> Cidr.parse("example.com/8")).hasMessageContaining("not an IP network");
    assertThatThrownBy(() -> Cidr.parse("10.0.0.0/x")).hasMessageContaining("bad prefix length");
    assertThatThrownBy(() -> Cidr.parse("fe80::1%eth0/128"))
        .hasMessageContaining("not an IP network");
  }

  @Test
  void allowAndAdminAllow() throws Exception {
    AccessPolicy p =
        new AccessPolicy(nets("127.0.0.0/8"), List.of(), nets("127.0.0.1/32"), List.of());
    assertThat(p.check(ip("127.0.0.2"), List.of(), null, Scope.CACHE)).isNull();
    assertThat(p.check(ip("127.0.0.2"), List.of(), null, Scope.HEALTH)).isNull();
    assertThat(p.check(ip("127.0.0.2"), List.of(), null, Scope.ADMIN)).isEqualTo(Rejection.ADMIN);
    assertThat(p.check(ip("127.0.0.1"), List.of(), null, Scope.ADMIN)).isNull();
    assertThat(p.check(ip("192.0.2.1"), List.of(), null, Scope.HEALTH))
        .isEqualTo(Rejection.NETWORK);
    assertThat(p.check(ip("192.0.2.1"), List.of(), null, Scope.CACHE)).isEqualTo(Rejection.NETWORK);
    assertThat(AccessPolicy.OPEN.check(ip("192.0.2.1"), List.of(), null, Scope.ADMIN))
        .isNull();
    assertThat(p.check(null, List.of(), null, Scope.ADMIN))
        .as("a Unix socket: no address to check")
        .isNull();
  }

  @Test
  void credentialsAreRequiredEverywhereButHealthAndCompareExactly() throws Exception {
    AccessPolicy p = new AccessPolicy(
        List.of(),
        List.of(ClientCredential.basic("ci", "pw"), ClientCredential.bearer("tok")),
        List.of(),
        List.of());
    InetAddress a = ip("127.0.0.1");
    assertThat(p.check(a, List.of(), null, Scope.HEALTH)).isNull();
    assertThat(p.check(a, List.of(), null, Scope.CACHE)).isEqualTo(Rejection.MISSING_CREDENTIALS);
    assertThat(p.check(a, List.of(), null, Scope.ADMIN)).isEqualTo(Rejection.MISSING_CREDENTIALS);
    assertThat(p.check(a, List.of(), basic("ci:pw"), Scope.CACHE)).isNull();
    assertThat(p.check(a, List.of(), basic("ci:pw"), Scope.ADMIN)).isNull();
    assertThat(p.check(a, List.of(), "bAsIc " + basic("ci:pw").substring(6), Scope.CACHE))
        .isNull();
    assertThat(p.check(a, List.of(), "Bearer tok", Scope.CACHE)).isNull();
    assertThat(p.check(null, List.of(), null, Scope.CACHE))
        .as("a Unix socket still authenticates")
        .isEqualTo(Rejection.MISSING_CREDENTIALS);
    for (String wrong : List.of(
        basic("ci:pw2"),
        basic("ci:p"),
        basic("CI:pw"),
        basic("tok"),
        basic(""),
        "Bearer pw",
        "Bearer tok2",
        "Bearer ",
        "Basic !!!notbase64",
        "Digest ci",
        "tok",
        "Basic " + basic("ci:pw"))) {
      assertThat(p.check(a, List.of(), wrong, Scope.CACHE))
          .as(wrong)
          .isEqualTo(Rejection.BAD_CREDENTIALS);
    }
  }

  @Test
  void forwardedForIsReadOnlyFromTrustedProxiesRightmostUntrustedFirst() throws Exception {
    AccessPolicy p = new AccessPolicy(
        nets("10.0.0.0/8"), List.of(), List.of(), nets("127.0.0.1/32", "10.9.9.9"));
    // An untrusted peer's header changes nothing, whatever it claims.
    assertThat(p.check(ip("192.0.2.1"), List.of("10.1.1.1"), null, Scope.CACHE))
        .isEqualTo(Rejection.NETWORK);
    assertThat(p.check(ip("10.1.1.1"), List.of("192.0.2.1"), null, Scope.CACHE)).isNull();
    // From a trusted proxy: the right-most address that is not a trusted proxy decides.
    assertThat(p.check(ip("127.0.0.1"), List.of("10.1.1.1"), null, Scope.CACHE)).isNull();
    assertThat(p.check(ip("127.0.0.1"), List.of("192.0.2.1"), null, Scope.CACHE))
        .isEqualTo(Rejection.NETWORK);
    assertThat(p.check(ip("127.0.0.1"), List.of("10.1.1.1, 192.0.2.1"), null, Scope.CACHE))
        .as("a forged left part is ignored")
        .isEqualTo(Rejection.NETWORK);
    assertThat(
            p.check(ip("127.0.0.1"), List.of("192.0.2.1, 10.1.1.1, 10.9.9.9"), null, Scope.CACHE))
        .as("trusted hops are skipped")
        .isNull();
    assertThat(p.check(ip("127.0.0.1"), List.of("192.0.2.1", "10.1.1.1"), null, Scope.CACHE))
        .as("several headers read as one list")
        .isNull();
    assertThat(p.check(ip("127.0.0.1"), List.of("10.1.1.1:4711"), null, Scope.CACHE))
        .isNull();
    assertThat(p.check(ip("127.0.0.1"), List.of("10.1.1.1, garbage"), null, Scope.CACHE))
        .as("an unparsable deciding entry matches no network")
        .isEqualTo(Rejection.NETWORK);
    // A trusted proxy's own request (no header): the proxy is the client.
    assertThat(p.check(ip("127.0.0.1"), List.of(), null, Scope.CACHE)).isEqualTo(Rejection.NETWORK);
  }
}

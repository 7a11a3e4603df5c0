package dev.ncro.narinfo;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.ncro.support.TestKey;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

class NarInfoTest {
  private static final String HASH = "0123456789abcdfghijklmnpqrsvwxyz";
  private static final String PATH = "/nix/store/" + HASH + "-hello-2.12";
  private static final String NAR_HASH =
      "sha256:1b8m03r63zqhnjf7l5wnldhh7c134ap5vpj0850ymkq1iyzicy5s";

  private static String body(String sig) {
    return "StorePath: " + PATH + "\n"
        + "URL: nar/1w1fff338fvdw53sqgamddn1b2xgds473pv6y13gizdbqjv4i5p3.nar.xz\n"
        + "Compression: xz\n"
        + "FileHash: sha256:1w1fff338fvdw53sqgamddn1b2xgds473pv6y13gizdbqjv4i5p3\n"
        + "FileSize: 50088\n"
        + "NarHash: " + NAR_HASH + "\n"
        + "NarSize: 226488\n"
        + "References: 3n58xw4373jp0ljirf06d8077j15pc4j-glibc-2.37-8 " + HASH + "-hello-2.12\n"
        + "Deriver: kc3gh3a8n5r5zzy6zzmk8n4k3i8yfafz-hello-2.12.drv\n"
        + (sig == null ? "" : "Sig: " + sig + "\n");
  }

  private static String fingerprint() {
    return "1;" + PATH + ";" + NAR_HASH
        + ";226488;/nix/store/3n58xw4373jp0ljirf06d8077j15pc4j-glibc-2.37-8," + PATH;
  }

  @Test
  void parsesTheFieldsRoutingNeeds() throws Exception {
    NarInfo n = NarInfo.parse(body(null));
    assertThat(n.storePath()).isEqualTo(PATH);
    assertThat(n.hashPart()).isEqualTo(HASH);
    assertThat(n.url()).startsWith("nar/1w1f");
    assertThat(n.compression()).isEqualTo("xz");
    assertThat(n.fileSize()).isEqualTo(50088);
    assertThat(n.narSize()).isEqualTo(226488);
    assertThat(n.references()).hasSize(2);
    assertThat(n.fingerprint()).isEqualTo(fingerprint());
  }

  @Test
  void fileSizeIsOptional() throws Exception {
    NarInfo n = NarInfo.parse(body(null).replace("FileSize: 50088\n", ""));
    assertThat(n.fileSize()).isEqualTo(-1);
  }

  @Test
  void emptyReferencesGiveABareFingerprintTail() throws Exception {
    NarInfo n = NarInfo.parse(body(null).replaceAll("References: .*\n", "References: \n"));
    assertThat(n.references()).isEmpty();
    assertThat(n.fingerprint()).isEqualTo("1;" + PATH + ";" + NAR_HASH + ";226488;");
  }

  @Test
  void signatureVerifiesOnlyWithTheRightKeyAndName() throws Exception {
    TestKey key = new TestKey("cache.example.org-1");
    NarInfo signed = NarInfo.parse(body(key.sign(fingerprint())));
    assertThat(signed.isSignedByAny(List.of(NixPublicKey.parse(key.publicKey()))))
        .isTrue();

    TestKey sameNameOtherKey = new TestKey("cache.example.org-1");
    assertThat(signed.isSignedByAny(List.of(NixPublicKey.parse(sameNameOtherKey.publicKey()))))
        .isFalse();

    TestKey otherName = new TestKey("other-1");
    String renamed = key.publicKey().replace("cache.example.org-1", "other-1");
    assertThat(signed.isSignedByAny(List.of(NixPublicKey.parse(renamed)))).isFalse();
    assertThat(otherName.name()).isEqualTo("other-1");

    // A tampered field breaks the signature.
    NarInfo tampered =
        NarInfo.parse(body(key.sign(fingerprint())).replace("NarSize: 226488", "NarSize: 226489"));
    assertThat(tampered.isSignedByAny(List.of(NixPublicKey.parse(key.publicKey()))))
        .isFalse();
  }

  @Test
  void verifiesARealNixSignature() throws Exception {
    // Made by Nix 2.8: `nix-store --generate-binary-cache-key ncro-test-1 sec pub`, then
    // `nix copy --to 'file://DIR?secret-key=sec&compression=none'` of a path with two references.
    NixPublicKey pub =
        NixPublicKey.parse("ncro-test-1:WTU8CoLrh+5CO2/ZbvIZ5EFxvRrORFf27w4TRi9BKqs=");
    String narinfo = """
        StorePath: /nix/store/8g17ffks07mb0j9l4ras20b1wfkr7jcc-ncro-sigvec-c
        URL: nar/0sx6r4iqan9igkg2njfyln4iffs3fa6bky3nkalqvy9prcgjmmqv.nar
        Compression: none
        FileHash: sha256:0sx6r4iqan9igkg2njfyln4iffs3fa6bky3nkalqvy9prcgjmmqv
        FileSize: 240
        NarHash: sha256:0sx6r4iqan9igkg2njfyln4iffs3fa6bky3nkalqvy9prcgjmmqv
        NarSize: 240
        References: 5mxqkbp79wj5a53qkdirmfsvdixrlycr-a.txt gbfcgkrndg79nf1v1nxinfpw1qvb232g-ncro-sigvec-d
        Sig: ncro-test-1:88YnDTm1+ecaKAqe4rh8MCXIYQsHgafGgd1TAxap6dOCSlGPPh3FqK9q0umCNXO/AuA74gVAkpSCKQjJZ3hfCA==
        CA: text:sha256:0vcyi1c9zj50956cnwrrm7w9rhm5964zj5q1x7nc814xysvgxxzm
        """;
    NarInfo n = NarInfo.parse(narinfo);
    assertThat(n.fingerprint())
        .isEqualTo(
            "1;/nix/store/8g17ffks07mb0j9l4ras20b1wfkr7jcc-ncro-sigvec-c;"
                + "sha256:0sx6r4iqan9igkg2njfyln4iffs3fa6bky3nkalqvy9prcgjmmqv;240;"
                + "/nix/store/5mxqkbp79wj5a53qkdirmfsvdixrlycr-a.txt,/nix/store/gbfcgkrndg79nf1v1nxinfpw1qvb232g-ncro-sigvec-d");
    assertThat(n.isSignedByAny(List.of(pub))).isTrue();
    assertThat(NarInfo.parse(narinfo.replace("a.txt g", "b.txt g")).isSignedByAny(List.of(pub)))
        .isFalse();
  }

  @ParameterizedTest
  @ValueSource(
      strings = {
        "",
        "StorePath: /nix/store/" + HASH
            + "-x\nURL: nar/x\nNarHash: sha256:x\nNarSize: 1", // no final newline
        "URL: nar/x\nNarHash: sha256:x\nNarSize: 1\n", // no StorePath
        "StorePath: /nix/store/" + HASH + "-x\nNarHash: sha256:x\nNarSize: 1\n", // no URL
        "StorePath: /nix/store/" + HASH + "-x\nURL: nar/x\nNarSize: 1\n", // no NarHash
        "StorePath: /nix/store/" + HASH + "-x\nURL: nar/x\nNarHash: sha256:x\n", // no NarSize
        "StorePath: /nix/store/" + HASH + "-x\nURL: nar/x\nNarHash: sha256:x\nNarSize: -1\n",
        "StorePath: /nix/store/" + HASH + "-x\nURL: nar/x\nNarHash: sha256:x\nNarSize: lots\n",
        "StorePath: /nix/store/eeee-x\nURL: nar/x\nNarHash: sha256:x\nNarSize: 1\n", // bad hash
        // part
        "StorePath: /nix/store/" + HASH
            + "-x\nURL nar/x\nNarHash: sha256:x\nNarSize: 1\n", // no ": "
        "<html>502 Bad Gateway</html>\n",
      })
  void rejectsWhatNixWouldReject(String text) {
    assertThatThrownBy(() -> NarInfo.parse(text.getBytes(StandardCharsets.UTF_8)))
        .isInstanceOf(NarInfoException.class);
  }

  @Test
  void absoluteUrlUnderTheUpstreamBecomesRelativeAndNothingElseChanges() {
    String abs = body(null).replace("URL: nar/", "URL: https://cache.example.org/sub/nar/");
    byte[] out = NarInfoRewriter.relativizeUrl(
        abs.getBytes(StandardCharsets.UTF_8), URI.create("https://cache.example.org/sub"));
    assertThat(new String(out, StandardCharsets.UTF_8)).isEqualTo(body(null));

    byte[] elsewhere = body(null)
        .replace("URL: nar/", "URL: https://cdn.example.net/nar/")
        .getBytes(StandardCharsets.UTF_8);
    assertThat(NarInfoRewriter.relativizeUrl(elsewhere, URI.create("https://cache.example.org")))
        .isEqualTo(elsewhere);

    byte[] relative = body(null).getBytes(StandardCharsets.UTF_8);
    assertThat(NarInfoRewriter.relativizeUrl(relative, URI.create("https://cache.example.org")))
        .isSameAs(relative);
  }

  @Test
  void storePathHashAlphabet() {
    assertThat(StorePathHash.isValid(HASH)).isTrue();
    assertThat(StorePathHash.isValid(HASH.replace('0', 'e'))).isFalse();
    assertThat(StorePathHash.isValid(HASH.replace('1', 'o'))).isFalse();
    assertThat(StorePathHash.isValid(HASH.substring(1))).isFalse();
    assertThat(StorePathHash.isValid(HASH.toUpperCase())).isFalse();
  }
}

package dev.ncro.narinfo;

import static org.assertj.core.api.Assertions.assertThat;

import com.code_intelligence.jazzer.junit.FuzzTest;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.List;

/**
 * Coverage-guided fuzzing of everything ncro does with an upstream's narinfo bytes, in the order
 * the race does it: {@link NarInfoRewriter#relativizeUrl}, {@link NarInfo#parse(byte[])}, then
 * {@link NarInfo#hashPart}, {@link NarInfo#fingerprint} and {@link NarInfo#isSignedByAny}. The
 * properties:
 * <ul>
 *   <li>{@code parse} throws {@link NarInfoException} and nothing else (no RuntimeException, no
 *       OutOfMemoryError or StackOverflowError); what it accepts has what Nix requires;
 *   <li>{@code relativizeUrl} never throws, and its output is the input with at most the value of
 *       the first {@code URL:} line changed, to the bytes that followed {@code <upstream>/} there
 *       (a {@code nar/} path): everything else, signatures included, stays byte-exact. (It found
 *       that invalid UTF-8 in a URL came out as U+FFFD: the rewrite now works on bytes.);
 *   <li>{@code isSignedByAny} never throws; the keys include the real Nix key of the seeds, so
 *       mutated signatures by that key name reach the ed25519 verification.
 * </ul>
 *
 * <p>Without {@code JAZZER_FUZZ} this runs once per seed in
 * {@code src/test/resources/dev/ncro/narinfo/NarInfoFuzzTestInputs/parseRewriteVerify/} (narinfos
 * made by Nix and by ncro's test upstreams, absolute URLs, damaged ones) plus the empty input.
 * With {@code JAZZER_FUZZ=1} it fuzzes for {@code maxDuration}.
 */
class NarInfoFuzzTest {
  /** The key of the narinfo made by Nix 2.8 in the seeds (see NarInfoTest#verifiesARealNixSignature). */
  private static final List<NixPublicKey> KEYS = List.of(
      NixPublicKey.parse("ncro-test-1:WTU8CoLrh+5CO2/ZbvIZ5EFxvRrORFf27w4TRi9BKqs="),
      NixPublicKey.parse("cache.nixos.org-1:6NCHdD59X431o0gWypbMrAURkbJ16ZPMQFGspcDShjY="));

  private static final List<URI> UPSTREAMS = List.of(
      URI.create("https://cache.example.org/sub"),
      URI.create("https://cache.nixos.org"),
      URI.create("http://127.0.0.1:8081/"));
  private static final byte[] URL_KEY = "URL: ".getBytes(StandardCharsets.US_ASCII);

  @FuzzTest(maxDuration = "20s")
  void parseRewriteVerify(byte[] data) {
    byte[] original = data.clone();
    for (URI upstream : UPSTREAMS) {
      byte[] out = NarInfoRewriter.relativizeUrl(data, upstream);
      assertThat(data).as("input left alone").isEqualTo(original);
      assertOnlyUrlValueShortened(data, out, upstream);
      parsed(out);
    }
    NarInfo info = parsed(data);
    if (info != null) {
      assertThat(data[data.length - 1]).as("final newline").isEqualTo((byte) '\n');
      assertThat(StorePathHash.isValid(info.hashPart())).isTrue();
      assertThat(info.storePath()).contains("/" + info.hashPart() + "-");
      assertThat(info.url()).isNotEmpty();
      assertThat(info.narSize()).isNotNegative();
      assertThat(info.fingerprint())
          .startsWith("1;" + info.storePath() + ";" + info.narHash() + ";" + info.narSize() + ";");
      info.isSignedByAny(KEYS);
      assertThat(info.isSignedByAny(List.of())).isFalse();
    }
  }

  private static NarInfo parsed(byte[] body) {
    try {
      return NarInfo.parse(body);
    } catch (NarInfoException e) {
      assertThat(e.getMessage()).isNotBlank();
      return null;
    }
  }

  /**
   * {@code out} is {@code in}, or {@code in} with the value of its first {@code URL: } line (a line
   * starting at offset 0 or after a newline) replaced by what followed {@code <upstream>/} in it.
   */
  private static void assertOnlyUrlValueShortened(byte[] in, byte[] out, URI upstream) {
    if (Arrays.equals(in, out)) {
      return;
    }
    int line = firstUrlLine(in);
    assertThat(line).as("changed, but there is no URL line").isNotNegative();
    int valueStart = line + URL_KEY.length;
    int inEnd = valueStart;
    while (inEnd < in.length && in[inEnd] != '\n') {
      inEnd++;
    }
    int tail = in.length - inEnd;
    int outEnd = out.length - tail;
    assertThat(outEnd).as("output long enough").isGreaterThan(valueStart);
    assertThat(Arrays.equals(in, 0, valueStart, out, 0, valueStart))
        .as("bytes before the URL value")
        .isTrue();
    assertThat(Arrays.equals(in, inEnd, in.length, out, outEnd, out.length))
        .as("bytes after the URL value")
        .isTrue();
    String base =
        upstream.toString().endsWith("/") ? upstream.toString() : upstream.toString() + "/";
    byte[] prefix = base.getBytes(StandardCharsets.UTF_8);
    byte[] relative = Arrays.copyOfRange(out, valueStart, outEnd);
    byte[] expected = new byte[prefix.length + relative.length];
    System.arraycopy(prefix, 0, expected, 0, prefix.length);
    System.arraycopy(relative, 0, expected, prefix.length, relative.length);
    assertThat(Arrays.copyOfRange(in, valueStart, inEnd))
        .as("old value = <upstream>/ + new value")
        .isEqualTo(expected);
    assertThat(new String(relative, StandardCharsets.ISO_8859_1))
        .as("a NAR path ncro serves")
        .startsWith("nar/");
  }

  private static int firstUrlLine(byte[] b) {
    for (int i = 0; i <= b.length - URL_KEY.length; i++) {
      if ((i == 0 || b[i - 1] == '\n')
          && Arrays.equals(b, i, i + URL_KEY.length, URL_KEY, 0, URL_KEY.length)) {
        return i;
      }
    }
    return -1;
  }
}

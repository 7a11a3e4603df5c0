package dev.ncro.narinfo;

import static org.assertj.core.api.Assertions.assertThat;

import java.net.URI;
import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** {@link NarInfoRewriter} cases found by {@link NarInfoFuzzTest}, and their neighbours. */
class NarInfoRewriterTest {
  private static final URI UPSTREAM = URI.create("https://cache.example.org/sub");

  private static byte[] narinfo(byte[] urlValue) {
    byte[] head = "StorePath: /nix/store/0123456789abcdfghijklmnpqrsvwxyz-x\nURL: "
        .getBytes(StandardCharsets.US_ASCII);
    byte[] tail =
        "\nNarHash: sha256:x\nNarSize: 1\nSig: k:\u00e9\n".getBytes(StandardCharsets.UTF_8);
    byte[] out = new byte[head.length + urlValue.length + tail.length];
    System.arraycopy(head, 0, out, 0, head.length);
    System.arraycopy(urlValue, 0, out, head.length, urlValue.length);
    System.arraycopy(tail, 0, out, head.length + urlValue.length, tail.length);
    return out;
  }

  private static byte[] ascii(String s) {
    return s.getBytes(StandardCharsets.ISO_8859_1);
  }

  @Test
  void invalidUtf8InTheUrlIsNeverReplacedByU_FFFD() {
    // Found by the fuzzer: the URL went through a String, so 0xFF bytes came out as EF BF BD.
    byte[] url = ascii("https://cache.example.org/sub/nar/ab\u00ff\u00ff.nar");
    byte[] in = narinfo(url);
    byte[] out = NarInfoRewriter.relativizeUrl(in, UPSTREAM);
    // Not a path ncro serves (non-ASCII), so the URL stays absolute, byte for byte.
    assertThat(out).isEqualTo(in);
  }

  @Test
  void bytesAroundTheUrlAreKeptExactly() {
    byte[] in = narinfo(ascii("https://cache.example.org/sub/nar/abc.nar.xz?v=1"));
    assertThat(NarInfoRewriter.relativizeUrl(in, UPSTREAM))
        .isEqualTo(narinfo(ascii("nar/abc.nar.xz?v=1")));
  }

  @ParameterizedTest
  @ValueSource(
      strings = {
        "https://cache.example.org/sub//nar/x.nar", // would become "/nar/x.nar": Nix asks for
        // //nar/x.nar, a 400
        "https://cache.example.org/sub/../nar/x.nar",
        "https://cache.example.org/sub/nar/../x.nar",
        "https://cache.example.org/sub/nar/..",
        "https://cache.example.org/sub/nar/",
        "https://cache.example.org/sub/nar/a/b.nar", // ncro's NAR endpoint takes one segment
        "https://cache.example.org/sub/nar/%41.nar",
        "https://cache.example.org/sub/blobs/x.nar", // not under nar/: ncro would answer 404
        "https://cache.example.org/sub/",
        "https://cache.example.org/subway/nar/x.nar",
        "https://cdn.example.net/sub/nar/x.nar",
      })
  void urlsNcroWouldNotServeStayAbsolute(String url) {
    byte[] in = narinfo(ascii(url));
    assertThat(NarInfoRewriter.relativizeUrl(in, UPSTREAM)).isEqualTo(in);
  }
}

package dev.ncro.narinfo;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.ncro.support.Compress;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import org.junit.jupiter.api.Test;

/**
 * The fixtures under content-encoding/ were written by Nix 2.8 ({@code nix copy --to
 * file://…?compression=br|xz} of a store path holding a narinfo): its own brotli and xz, which is
 * what its S3 store writes for {@code narinfo-compression}. {@code sample.nar} is the same path's
 * {@code nix-store --dump}.
 */
class ContentDecodingTest {
  private static final String NARINFO = "StorePath: /nix/store/"
      + "04flhwcarl6kknpbkfs3z6l5z33d6l3v-x\nURL: nar/a.nar.xz\nCompression: xz\n";

  private static byte[] resource(String name) throws IOException {
    try (InputStream in =
        ContentDecodingTest.class.getResourceAsStream("/content-encoding/" + name)) {
      assertThat(in).as(name).isNotNull();
      return in.readAllBytes();
    }
  }

  @Test
  void brotliAndXzWrittenByNixDecodeToTheSameBytes() throws Exception {
    byte[] plain = resource("sample.nar");
    assertThat(ContentDecoding.decode("br", resource("sample.nar.br"), 1 << 20)).isEqualTo(plain);
    assertThat(ContentDecoding.decode("xz", resource("sample.nar.xz"), 1 << 20)).isEqualTo(plain);
    assertThat(new String(plain, StandardCharsets.UTF_8)).contains("StorePath: /nix/store/");
  }

  @Test
  void gzipAndXzRoundTrip() throws Exception {
    byte[] text = NARINFO.getBytes(StandardCharsets.UTF_8);
    assertThat(ContentDecoding.decode("gzip", Compress.gzip(text), 4096)).isEqualTo(text);
    assertThat(ContentDecoding.decode(" XZ ", Compress.xz(text), 4096)).isEqualTo(text);
  }

  @Test
  void noEncodingLeavesTheBodyAlone() throws Exception {
    byte[] text = NARINFO.getBytes(StandardCharsets.UTF_8);
    assertThat(ContentDecoding.decode(null, text, 10)).isSameAs(text);
    assertThat(ContentDecoding.decode("", text, 10)).isSameAs(text);
    assertThat(ContentDecoding.decode("identity", text, 10)).isSameAs(text);
  }

  @Test
  void anEncodingNcroCannotDecodeIsNamed() {
    assertThatThrownBy(() -> ContentDecoding.decode("zstd", new byte[] {1, 2, 3}, 4096))
        .isInstanceOf(NarInfoException.class)
        .hasMessageContaining("Content-Encoding zstd")
        .hasMessageContaining("cannot decode");
  }

  @Test
  void aCorruptBodyIsAnErrorNotGarbage() throws Exception {
    byte[] br = resource("sample.nar.br");
    byte[] cut = Arrays.copyOf(br, br.length / 2);
    assertThatThrownBy(() -> ContentDecoding.decode("br", cut, 1 << 20))
        .isInstanceOf(NarInfoException.class)
        .hasMessageContaining("Content-Encoding br: not decodable");
    assertThatThrownBy(() -> ContentDecoding.decode("gzip", NARINFO.getBytes(), 1 << 20))
        .isInstanceOf(NarInfoException.class)
        .hasMessageContaining("Content-Encoding gzip: not decodable");
  }

  @Test
  void theDecodedSizeIsBounded() throws Exception {
    byte[] gz = Compress.gzip(new byte[1 << 20]); // 1 MiB of zeros: about 1 KiB compressed
    assertThat(gz.length).isLessThan(4096);
    assertThatThrownBy(() -> ContentDecoding.decode("gzip", gz, 64 << 10))
        .isInstanceOf(NarInfoException.class)
        .hasMessageContaining("decodes to more than 65536 bytes");
  }
}

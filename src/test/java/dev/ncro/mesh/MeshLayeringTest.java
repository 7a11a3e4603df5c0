package dev.ncro.mesh;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * The codec's pieces depend one way: {@link GossipCodec} is the entry and nothing below it refers
 * back to it, and the key file knows nothing of identities. Checked on the compiled classes (a
 * class refers to another exactly when the other's internal name is in its constant pool), so a
 * javadoc link does not count and a real use cannot hide.
 */
class MeshLayeringTest {
  @Test
  void nothingBelowTheCodecRefersBackToIt() throws IOException {
    // The check sees real references: the codec's own uses of its pieces show up.
    assertThat(constantPool(GossipCodec.class))
        .contains("dev/ncro/mesh/PacketSealer", "dev/ncro/mesh/GossipBodyReader");
    for (Class<?> piece : List.of(
        GossipWire.class,
        GossipBodyWriter.class,
        GossipBodyReader.class,
        BoundedUnpacker.class,
        AnnouncePacker.class,
        PacketSealer.class)) {
      assertThat(constantPool(piece))
          .as(piece.getSimpleName())
          .doesNotContain("dev/ncro/mesh/GossipCodec");
    }
  }

  @Test
  void theReaderAndTheWriterDoNotKnowEachOther() throws IOException {
    assertThat(constantPool(GossipBodyReader.class))
        .doesNotContain("dev/ncro/mesh/GossipBodyWriter");
    assertThat(constantPool(GossipBodyWriter.class))
        .doesNotContain("dev/ncro/mesh/GossipBodyReader");
    assertThat(constantPool(BoundedUnpacker.class))
        .doesNotContain("dev/ncro/mesh/GossipBodyReader");
  }

  @Test
  void theKeyFileIsBytesOnly() throws IOException {
    assertThat(constantPool(NodeKeyFile.class)).doesNotContain("dev/ncro/mesh/NodeIdentity");
  }

  @Test
  void meshCryptoComesFromTheCryptoPackageNotNarinfo() throws IOException {
    assertThat(constantPool(NodeIdentity.class))
        .contains("dev/ncro/crypto/Ed25519PrivateKey")
        .doesNotContain("dev/ncro/narinfo/");
  }

  /** The class file as text: its constant pool's class names are plain ASCII in it. */
  private static String constantPool(Class<?> type) throws IOException {
    try (InputStream in = type.getResourceAsStream(type.getSimpleName() + ".class")) {
      assertThat(in).as(type.getSimpleName() + ".class").isNotNull();
      return new String(in.readAllBytes(), StandardCharsets.ISO_8859_1);
    }
  }
}

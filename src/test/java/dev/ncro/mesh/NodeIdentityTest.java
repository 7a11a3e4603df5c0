package dev.ncro.mesh;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermission;
import java.security.KeyFactory;
import java.security.PrivateKey;
import java.security.Signature;
import java.security.spec.EdECPrivateKeySpec;
import java.security.spec.NamedParameterSpec;
import java.util.Arrays;
import java.util.EnumSet;
import java.util.HexFormat;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class NodeIdentityTest {
  private static final byte[] MESSAGE = "announce".getBytes(StandardCharsets.UTF_8);

  @TempDir
  Path dir;

  @Test
  void createsAMissingKeyFileWithMode0600AndParentDirectories() throws Exception {
    Path keyFile = dir.resolve("var/lib/ncro/node.key");
    NodeIdentity created = NodeIdentity.loadOrCreate(keyFile);

    assertThat(Files.getPosixFilePermissions(keyFile))
        .isEqualTo(EnumSet.of(PosixFilePermission.OWNER_READ, PosixFilePermission.OWNER_WRITE));
    byte[] content = Files.readAllBytes(keyFile);
    assertThat(content).hasSize(64);
    assertThat(Arrays.copyOfRange(content, 32, 64)).isEqualTo(created.publicKey());
    // The file is the seed followed by the public key: the seed alone gives the same identity.
    assertThat(NodeIdentity.fromSeed(Arrays.copyOf(content, 32)).publicKey())
        .isEqualTo(created.publicKey());
  }

  @Test
  void loadingAgainGivesTheSameIdentity() throws Exception {
    Path keyFile = dir.resolve("node.key");
    NodeIdentity first = NodeIdentity.loadOrCreate(keyFile);
    byte[] before = Files.readAllBytes(keyFile);
    NodeIdentity second = NodeIdentity.loadOrCreate(keyFile);

    assertThat(Files.readAllBytes(keyFile)).isEqualTo(before);
    assertThat(second.publicKey()).isEqualTo(first.publicKey());
    assertThat(second.nodeId()).isEqualTo(first.nodeId());
    // Same private key: ed25519 is deterministic, so the signatures are identical.
    assertThat(second.sign(MESSAGE)).isEqualTo(first.sign(MESSAGE));
  }

  @Test
  void aWrongSizeFileIsAnErrorNamingThePath() throws Exception {
    Path keyFile = dir.resolve("short.key");
    Files.write(keyFile, new byte[63]);
    assertThatThrownBy(() -> NodeIdentity.loadOrCreate(keyFile))
        .isInstanceOf(IOException.class)
        .hasMessageContaining(keyFile.toString())
        .hasMessageContaining("63 bytes, expected 64");
    assertThat(Files.size(keyFile)).isEqualTo(63); // never overwritten

    Path empty = dir.resolve("empty.key");
    Files.createFile(empty);
    assertThatThrownBy(() -> NodeIdentity.loadOrCreate(empty))
        .isInstanceOf(IOException.class)
        .hasMessageContaining(empty.toString())
        .hasMessageContaining("0 bytes");

    Path hexText = dir.resolve("hex.key");
    Files.writeString(hexText, "ab".repeat(64) + "\n");
    assertThatThrownBy(() -> NodeIdentity.loadOrCreate(hexText))
        .isInstanceOf(IOException.class)
        .hasMessageContaining(hexText.toString())
        .hasMessageContaining("129 bytes");
  }

  @Test
  void aPublicHalfThatDoesNotMatchTheSeedIsAnError() throws Exception {
    byte[] content = MeshVectors.named("announce-two-routes").privateKeyFile();
    content[63] ^= 1;
    Path keyFile = dir.resolve("corrupt.key");
    Files.write(keyFile, content);
    assertThatThrownBy(() -> NodeIdentity.loadOrCreate(keyFile))
        .isInstanceOf(IOException.class)
        .hasMessageContaining(keyFile.toString())
        .hasMessageContaining("is not the public key of the seed");
  }

  @Test
  void aDirectoryIsAnError() {
    assertThatThrownBy(() -> NodeIdentity.loadOrCreate(dir)).isInstanceOf(IOException.class);
  }

  @Test
  void theVectorKeyFileLoads() throws Exception {
    MeshVectors.Vector v = MeshVectors.named("announce-other-signer");
    Path keyFile = dir.resolve("other.key");
    Files.write(keyFile, v.privateKeyFile());
    NodeIdentity id = NodeIdentity.loadOrCreate(keyFile);
    assertThat(id.publicKey()).isEqualTo(v.publicKey());
    assertThat(id.nodeId()).isEqualTo("da29e95b02e00ffa");
  }

  @Test
  void signaturesVerifyAndAnythingElseDoesNot() {
    NodeIdentity id = NodeIdentity.ephemeral();
    byte[] signature = id.sign(MESSAGE);
    assertThat(signature).hasSize(64);
    assertThat(NodeIdentity.verify(id.publicKey(), MESSAGE, signature)).isTrue();

    byte[] flipped = signature.clone();
    flipped[10] ^= 0x40;
    assertThat(NodeIdentity.verify(id.publicKey(), MESSAGE, flipped)).isFalse();
    assertThat(NodeIdentity.verify(
            id.publicKey(), "announcf".getBytes(StandardCharsets.UTF_8), signature))
        .isFalse();
    assertThat(NodeIdentity.verify(NodeIdentity.ephemeral().publicKey(), MESSAGE, signature))
        .isFalse();
    // Malformed arguments are "not valid", never an exception.
    assertThat(NodeIdentity.verify(new byte[31], MESSAGE, signature)).isFalse();
    assertThat(NodeIdentity.verify(id.publicKey(), MESSAGE, Arrays.copyOf(signature, 63)))
        .isFalse();
    assertThat(NodeIdentity.verify(null, MESSAGE, signature)).isFalse();
    assertThat(NodeIdentity.verify(id.publicKey(), null, signature)).isFalse();
    byte[] allOnes = new byte[32];
    Arrays.fill(allOnes, (byte) 0xff); // y >= p: not a valid encoding
    assertThat(NodeIdentity.verify(allOnes, MESSAGE, signature)).isFalse();
    for (int b = 0; b < 256; b++) { // assorted points, on and off the curve
      byte[] key = new byte[32];
      Arrays.fill(key, (byte) b);
      assertThat(NodeIdentity.verify(key, MESSAGE, signature)).isFalse();
    }
  }

  @Test
  void signsExactlyAsTheJdkDoesWithTheKeyFilesSeed() throws Exception {
    // Ed25519 is deterministic: the JDK, given the same seed, must produce the same bytes.
    MeshVectors.Vector v = MeshVectors.named("announce-two-routes");
    NodeIdentity id = NodeIdentity.fromPrivateKey(v.privateKeyFile());
    PrivateKey jdkKey = KeyFactory.getInstance("Ed25519")
        .generatePrivate(new EdECPrivateKeySpec(NamedParameterSpec.ED25519, v.seed()));
    for (byte[] message : new byte[][] {MESSAGE, v.body(), new byte[0]}) {
      Signature jdk = Signature.getInstance("Ed25519");
      jdk.initSign(jdkKey);
      jdk.update(message);
      assertThat(id.sign(message)).isEqualTo(jdk.sign());
    }
  }

  @Test
  void ephemeralIdentitiesDiffer() {
    NodeIdentity a = NodeIdentity.ephemeral();
    NodeIdentity b = NodeIdentity.ephemeral();
    assertThat(a.publicKey()).isNotEqualTo(b.publicKey());
    assertThat(a.nodeId()).hasSize(16).isEqualTo(a.publicKeyHex().substring(0, 16));
    assertThat(a.publicKeyHex()).hasSize(64).matches("[0-9a-f]{64}");
  }

  @Test
  void publicKeyIsACopy() {
    NodeIdentity id = NodeIdentity.ephemeral();
    byte[] key = id.publicKey();
    key[0] ^= 1;
    assertThat(id.publicKey()).isNotEqualTo(key);
  }

  @Test
  void toStringShowsNoSecret() throws Exception {
    MeshVectors.Vector v = MeshVectors.named("announce-two-routes");
    NodeIdentity id = NodeIdentity.fromPrivateKey(v.privateKeyFile());
    assertThat(id.toString())
        .contains(id.publicKeyHex())
        .doesNotContain(HexFormat.of().formatHex(v.seed()));
  }

  @Test
  void fromSeedAndFromPrivateKeyRefuseWrongLengths() {
    assertThatThrownBy(() -> NodeIdentity.fromSeed(new byte[31]))
        .isInstanceOf(IllegalArgumentException.class);
    assertThatThrownBy(() -> NodeIdentity.fromPrivateKey(new byte[32]))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("32 bytes, expected 64");
  }
}

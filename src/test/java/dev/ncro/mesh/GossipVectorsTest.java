package dev.ncro.mesh;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.ncro.mesh.MeshVectors.Vector;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/** The original Go ncro's own packets: what compatibility means, pinned byte for byte. */
class GossipVectorsTest {

  static List<Vector> valid() {
    return MeshVectors.valid();
  }

  static List<Vector> invalid() {
    return MeshVectors.invalid();
  }

  static List<Vector> all() {
    return MeshVectors.all();
  }

  @Test
  void thereAreValidAndInvalidVectors() {
    assertThat(valid())
        .extracting(Vector::name)
        .containsExactlyInAnyOrder(
            "announce-two-routes", "announce-no-routes", "announce-other-signer");
    assertThat(invalid())
        .extracting(Vector::name)
        .containsExactlyInAnyOrder("bad-signature", "tampered-body", "truncated", "garbage-body");
  }

  @ParameterizedTest
  @MethodSource("all")
  void binFilesEqualTheHex(Vector v) {
    assertThat(MeshVectors.binFile(v.name())).isEqualTo(v.packet());
  }

  @ParameterizedTest
  @MethodSource("all")
  void seedGivesThePublicKey(Vector v) {
    NodeIdentity id = NodeIdentity.fromSeed(v.seed());
    assertThat(id.publicKey()).isEqualTo(v.publicKey());
    assertThat(id.publicKeyHex()).isEqualTo(HexFormat.of().formatHex(v.publicKey()));
    assertThat(id.nodeId()).isEqualTo(HexFormat.of().formatHex(v.publicKey(), 0, 8));
    assertThat(v.privateKeyFile()).isEqualTo(concat(v.seed(), v.publicKey()));
  }

  @ParameterizedTest
  @MethodSource("valid")
  void validPacketsVerify(Vector v) {
    byte[] signature = Arrays.copyOfRange(v.packet(), 32, 96);
    assertThat(NodeIdentity.verify(v.publicKey(), v.body(), signature)).isTrue();
    assertThat(Arrays.copyOfRange(v.packet(), 96, v.packet().length)).isEqualTo(v.body());
  }

  @ParameterizedTest
  @MethodSource("valid")
  void validBodiesDecodeToTheirMessage(Vector v) throws Exception {
    assertThat(GossipCodec.decodeBody(v.body())).isEqualTo(v.message());
  }

  @ParameterizedTest
  @MethodSource("valid")
  void validPacketsOpenWithTheirSender(Vector v) throws Exception {
    GossipCodec.Opened opened = GossipCodec.open(v.packet(), v.packet().length);
    assertThat(opened.senderPublicKey()).isEqualTo(v.publicKey());
    assertThat(opened.senderPublicKeyHex()).isEqualTo(HexFormat.of().formatHex(v.publicKey()));
    assertThat(opened.message()).isEqualTo(v.message());
  }

  @ParameterizedTest
  @MethodSource("valid")
  void openReadsOnlyTheDatagramOfALargerBuffer(Vector v) throws Exception {
    byte[] buffer = Arrays.copyOf(v.packet(), v.packet().length + 1000);
    Arrays.fill(buffer, v.packet().length, buffer.length, (byte) 0xc1);
    assertThat(GossipCodec.open(buffer, v.packet().length).message()).isEqualTo(v.message());
  }

  /** The strongest compatibility statement: our encoder writes exactly the original's bytes. */
  @ParameterizedTest
  @MethodSource("valid")
  void encodingTheMessageReproducesTheBodyByteForByte(Vector v) {
    assertThat(HexFormat.of().formatHex(GossipCodec.encodeBody(v.message())))
        .isEqualTo(HexFormat.of().formatHex(v.body()));
  }

  /** ed25519 signatures are deterministic, so sealing reproduces the whole packet. */
  @ParameterizedTest
  @MethodSource("valid")
  void sealingWithTheKeyFileReproducesThePacket(Vector v, @TempDir Path dir) throws Exception {
    Path keyFile = dir.resolve("node.key");
    Files.write(keyFile, v.privateKeyFile());
    NodeIdentity id = NodeIdentity.loadOrCreate(keyFile);
    assertThat(id.publicKey()).isEqualTo(v.publicKey());
    assertThat(GossipCodec.seal(id, v.message())).isEqualTo(v.packet());
  }

  @Test
  void announceSplitIntoOneDatagramReproducesTheVectorPacket() {
    Vector v = MeshVectors.named("announce-two-routes");
    NodeIdentity id = NodeIdentity.fromPrivateKey(v.privateKeyFile());
    List<byte[]> packets =
        GossipCodec.sealAnnounce(id, v.message().timestampNanos(), v.message().routes(), 65_000);
    assertThat(packets).hasSize(1);
    assertThat(packets.get(0)).isEqualTo(v.packet());
  }

  @Test
  void emptyAnnounceReproducesTheNilRoutesVector() {
    Vector v = MeshVectors.named("announce-no-routes");
    NodeIdentity id = NodeIdentity.fromSeed(v.seed());
    List<byte[]> packets =
        GossipCodec.sealAnnounce(id, v.message().timestampNanos(), List.of(), 65_000);
    assertThat(packets).hasSize(1);
    assertThat(packets.get(0)).isEqualTo(v.packet());
  }

  @Test
  void badSignatureIsBadSignature() {
    assertDropped("bad-signature", DropReason.BAD_SIGNATURE);
  }

  @Test
  void tamperedBodyIsBadSignature() {
    assertDropped("tampered-body", DropReason.BAD_SIGNATURE);
  }

  @Test
  void truncatedIsMalformed() {
    assertDropped("truncated", DropReason.MALFORMED);
  }

  /**
   * The note allows malformed or bad_signature. The signature is checked before the body is
   * parsed (unauthenticated bytes never reach the decoder), and this body was not what was signed,
   * so it is bad_signature.
   */
  @Test
  void garbageBodyIsBadSignatureBecauseTheSignatureIsCheckedFirst() {
    Vector v = MeshVectors.named("garbage-body");
    assertThat(v.note()).contains("malformed or bad_signature");
    assertDropped("garbage-body", DropReason.BAD_SIGNATURE);
  }

  @Test
  void garbageBodyAloneIsMalformed() {
    byte[] packet = MeshVectors.named("garbage-body").packet();
    byte[] body = Arrays.copyOfRange(packet, 96, packet.length);
    assertThatThrownBy(() -> GossipCodec.decodeBody(body))
        .isInstanceOfSatisfying(
            PacketException.class, e -> assertThat(e.reason()).isEqualTo(DropReason.MALFORMED));
  }

  @ParameterizedTest
  @MethodSource("invalid")
  void everyInvalidVectorIsDroppedForTheReasonItsNoteGives(Vector v) {
    PacketException e = openFails(v.packet());
    assertThat(v.note()).contains(e.reason().label());
  }

  private static void assertDropped(String name, DropReason reason) {
    Vector v = MeshVectors.named(name);
    assertThat(openFails(v.packet()).reason()).isEqualTo(reason);
  }

  private static PacketException openFails(byte[] packet) {
    try {
      GossipCodec.open(packet, packet.length);
    } catch (PacketException e) {
      return e;
    }
    throw new AssertionError("packet was accepted");
  }

  private static byte[] concat(byte[] a, byte[] b) {
    byte[] out = Arrays.copyOf(a, a.length + b.length);
    System.arraycopy(b, 0, out, a.length, b.length);
    return out;
  }
}

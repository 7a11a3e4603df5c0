package dev.ncro.mesh;

import static org.assertj.core.api.Assertions.assertThat;

import com.code_intelligence.jazzer.junit.FuzzTest;
import java.util.Arrays;

/**
 * Coverage-guided fuzzing of everything that reads network bytes: {@link GossipCodec#open} and
 * {@link GossipCodec#decodeBody}. The property: only {@link PacketException} ever escapes (no
 * RuntimeException, no OutOfMemoryError or StackOverflowError), a PacketException never hides an
 * unexpected exception type, and whatever is accepted re-encodes to a body that decodes to the
 * same message.
 *
 * <p>Without {@code JAZZER_FUZZ} this runs once per seed in
 * {@code src/test/resources/dev/ncro/mesh/GossipCodecFuzzTestInputs/openAndDecode/} (the vector
 * packets) plus the empty input, like a parameterized test. With {@code JAZZER_FUZZ=1} (an
 * environment variable, or a system property of that exact name) it fuzzes for
 * {@code maxDuration}.
 */
class GossipCodecFuzzTest {
  private static final NodeIdentity SIGNER =
      NodeIdentity.fromPrivateKey(MeshVectors.named("announce-two-routes").privateKeyFile());

  @FuzzTest(maxDuration = "20s")
  void openAndDecode(byte[] data) {
    // The datagram as received (in a larger receive buffer): almost always a bad signature.
    opened(Arrays.copyOf(data, data.length + 7), data.length);
    // Bodies reach the decoder only behind a valid signature, so also decode directly: the whole
    // input, and the part after the 96-byte header (the seeds are whole packets).
    decoded(data);
    if (data.length > GossipCodec.HEADER_BYTES) {
      byte[] body = Arrays.copyOfRange(data, GossipCodec.HEADER_BYTES, data.length);
      GossipMessage message = decoded(body);
      if (message != null && message.nodeId().equals(SIGNER.nodeId())) {
        // Accepted bodies survive a real signature and open() (JDK ed25519 is slow: only these).
        byte[] packet = GossipCodecTest.signedPacket(SIGNER, body);
        if (packet.length <= GossipCodec.MAX_PACKET_BYTES) {
          assertThat(opened(packet, packet.length)).isEqualTo(message);
        }
      }
    }
  }

  private static GossipMessage opened(byte[] packet, int length) {
    try {
      return GossipCodec.open(packet, length).message();
    } catch (PacketException e) {
      GossipCodecTest.assertExpectedCause(e);
      return null;
    }
  }

  private static GossipMessage decoded(byte[] body) {
    GossipMessage message;
    try {
      message = GossipCodec.decodeBody(body);
    } catch (PacketException e) {
      assertThat(e.reason()).isEqualTo(DropReason.MALFORMED);
      GossipCodecTest.assertExpectedCause(e);
      return null;
    }
    byte[] again = GossipCodec.encodeBody(message);
    try {
      assertThat(GossipCodec.decodeBody(again)).isEqualTo(message);
    } catch (PacketException e) {
      throw new AssertionError("an accepted message does not survive re-encoding", e);
    }
    return message;
  }
}

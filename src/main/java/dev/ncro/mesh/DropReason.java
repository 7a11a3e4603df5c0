package dev.ncro.mesh;

import java.util.Locale;

/**
 * Why a received gossip packet was dropped. Every drop is counted by reason, so an operator can
 * tell a misconfigured peer ({@link #UNKNOWN_SENDER}, {@link #BAD_SIGNATURE}) from line noise or an
 * attack ({@link #MALFORMED}, {@link #OVERSIZE}) and from replays ({@link #REPLAY}).
 *
 * <p>The codec ({@link GossipCodec}) decides {@link #OVERSIZE}, {@link #MALFORMED} and
 * {@link #BAD_SIGNATURE}; the node decides {@link #UNKNOWN_SENDER} and {@link #REPLAY}, which need
 * its configuration and state.
 */
public enum DropReason {
  /** Not a packet of the gossip format: too short, not msgpack, or not the message's shape. */
  MALFORMED,
  /** The signature does not verify against the public key carried in the packet. */
  BAD_SIGNATURE,
  /** Well signed, but by a key that is not among the configured peers. */
  UNKNOWN_SENDER,
  /** Its timestamp is not newer than the last accepted from that sender, or too far from now. */
  REPLAY,
  /** Longer than {@link GossipCodec#MAX_PACKET_BYTES}. */
  OVERSIZE;

  /** The metric label value: the lower-case name, e.g. {@code bad_signature}. */
  public String label() {
    return name().toLowerCase(Locale.ROOT);
  }
}

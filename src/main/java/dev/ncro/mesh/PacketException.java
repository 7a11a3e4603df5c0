package dev.ncro.mesh;

import java.util.Objects;

/**
 * A received gossip packet that must be dropped, with the {@link DropReason} it is counted under
 * and a message saying what exactly was wrong (for a debug log line). This is the only exception
 * the decoding side of {@link GossipCodec} throws, so a receive loop needs one catch clause.
 */
public final class PacketException extends Exception {
  private static final long serialVersionUID = 1L;

  private final DropReason reason;

  public PacketException(DropReason reason, String message) {
    super(message);
    this.reason = Objects.requireNonNull(reason, "reason");
  }

  public PacketException(DropReason reason, String message, Throwable cause) {
    super(message, cause);
    this.reason = Objects.requireNonNull(reason, "reason");
  }

  public DropReason reason() {
    return reason;
  }

  @Override
  public String toString() {
    return "PacketException[" + reason.label() + "]: " + getMessage();
  }
}

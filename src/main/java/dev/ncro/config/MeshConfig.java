package dev.ncro.config;

import java.time.Duration;
import java.util.List;

/**
 * UDP route gossip between ncro nodes. {@code privateKey} is a key-file path, or empty for an
 * ephemeral identity.
 */
public record MeshConfig(
    boolean enabled,
    String bindAddr,
    List<Peer> peers,
    String privateKey,
    Duration gossipInterval) {

  public MeshConfig {
    peers = List.copyOf(peers);
  }

  /** A peer node; {@code publicKey} is 64 hex characters, or empty to accept any signer. */
  public record Peer(String addr, String publicKey) {}
}

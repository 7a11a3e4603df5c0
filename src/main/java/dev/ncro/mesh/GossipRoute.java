package dev.ncro.mesh;

import java.time.Instant;

/**
 * One route as it travels in a gossip packet, field for field the original ncro's route entry
 * (msgpack map keys in brackets). {@code storePath} is the store path's 32-character hash part;
 * {@code expiresAt} is the original's {@code TTL} field, which holds the absolute expiry time.
 *
 * @param storePath    [StorePath] hash part of the store path
 * @param upstreamUrl  [UpstreamURL] the upstream that serves it, as configured on the sender
 * @param latencyMs    [LatencyMs] the last measured latency
 * @param latencyEma   [LatencyEMA] the sender's EMA for that upstream; lower wins a merge
 * @param lastVerified [LastVerified] when the sender last confirmed the route; newer wins a tie
 * @param queryCount   [QueryCount]
 * @param failureCount [FailureCount]
 * @param expiresAt    [TTL] after this instant the route is ignored
 * @param narHash      [NarHash] may be empty
 * @param narSize      [NarSize] may be 0
 * @param narUrl       [NarURL] may be empty
 */
public record GossipRoute(
    String storePath,
    String upstreamUrl,
    double latencyMs,
    double latencyEma,
    Instant lastVerified,
    long queryCount,
    long failureCount,
    Instant expiresAt,
    String narHash,
    long narSize,
    String narUrl) {}

package dev.ncro.config;

import java.time.Duration;

/**
 * Upstream timeouts. {@code connect}: TCP (and TLS) set-up; {@code firstByte}: from sending a
 * request to receiving the response headers; {@code stall}: longest gap between two body chunks.
 * There is deliberately no total-time limit: a multi-gigabyte NAR that keeps flowing is never cut.
 */
public record TimeoutsConfig(Duration connect, Duration firstByte, Duration stall) {}

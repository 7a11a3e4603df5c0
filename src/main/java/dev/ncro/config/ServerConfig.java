package dev.ncro.config;

import java.time.Duration;

/**
 * The client-facing HTTP server. {@code readTimeout} bounds how long a client may take to send
 * a request's headers (and how long an idle keep-alive connection is kept); {@code writeTimeout}
 * is an idle timeout on writes: a client that accepts no bytes for that long is cut, while a long
 * download that keeps making progress is never cut. {@code listen} is null when the file says
 * {@code listen: ""}: ncro then serves only the sockets systemd hands over (socket activation).
 */
public record ServerConfig(
    ListenAddress listen, Duration readTimeout, Duration writeTimeout, int cachePriority) {}

package dev.ncro.config;

/** {@code level}: debug, info, warn or error; {@code format}: json (one object per line) or text. */
public record LoggingConfig(String level, String format) {}

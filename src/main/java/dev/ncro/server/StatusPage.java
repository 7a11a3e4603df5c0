package dev.ncro.server;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;

/**
 * The status page for people: one self-contained HTML file (inline CSS and a little JavaScript that
 * polls {@code /status}), embedded in the jar. No build step, no external assets: it works on an
 * air-gapped build host.
 */
final class StatusPage {
  static final byte[] HTML = load("/ui/status.html");

  private StatusPage() {}

  private static byte[] load(String resource) {
    try (InputStream in = StatusPage.class.getResourceAsStream(resource)) {
      if (in == null) {
        throw new IllegalStateException(resource + " missing from the jar");
      }
      return in.readAllBytes();
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }
}

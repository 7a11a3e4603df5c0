package dev.ncro.server;

/**
 * A response written to the client piece by piece as an upstream delivers it (a NAR, a build log),
 * which the connection tells when the client can take more bytes and when it went away.
 */
interface StreamedResponse {
  void start();

  /** The client channel drained below its low-water mark: read from the upstream again. */
  void clientWritable();

  /** The client went away: stop the upstream transfer. */
  void clientClosed();
}

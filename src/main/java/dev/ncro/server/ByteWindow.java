package dev.ncro.server;

/**
 * Where the bytes of one NAR response sit in the file: the offset of the first body byte the client
 * gets, how many it got, how many it was promised, the file's whole length, and how many leading
 * upstream bytes must be dropped. A resume is spliced only where these agree with the new answer's
 * {@code Content-Range}, so this arithmetic decides whether a client ever sees a corrupt NAR; it is
 * kept apart from the proxy's I/O so it can be tested on its own.
 *
 * <p>Mutable, confined to the thread that runs the proxy's upstream callbacks.
 */
final class ByteWindow {
  /** Offset in the file of the first body byte sent to the client. */
  private final long firstByte;
  /** Body length promised to the client (its Content-Length), -1 when unknown. */
  private final long promised;
  /** Length of the whole file, -1 when unknown. */
  private final long fileLength;
  /** The upstream ignored the client's Range: its 200 is cut to the range and sent as a 206. */
  private final boolean cutToRange;
  /** Upstream body bytes still to drop before the client's range starts. */
  private long skip;
  /** Body bytes sent to the client so far. */
  private long delivered;

  private ByteWindow(long firstByte, long promised, long fileLength, long skip) {
    this.firstByte = firstByte;
    this.promised = promised;
    this.fileLength = fileLength;
    this.skip = skip;
    this.cutToRange = skip > 0;
  }

  /**
   * The window of an upstream's 2xx answer. {@code contentLength} is its Content-Length (-1 if
   * none), {@code range} its parsed Content-Range (null if none or not resumable), {@code
   * requestedFrom} the client's open range start ({@link #requestedFrom}, -1 without one).
   */
  static ByteWindow open(int status, long contentLength, ContentRange range, long requestedFrom) {
    long first = 0;
    long length = -1;
    if (status == 206 && range != null) {
      first = range.first();
      length = range.total();
    } else if (status == 200) {
      length = contentLength;
    }
    if (status == 200 && requestedFrom > 0 && length > requestedFrom) {
      // The upstream ignored the Range (some do). Nix fails on a 200 to its Range request, so
      // the client gets the range it asked for: the first bytes of the whole file are dropped.
      return new ByteWindow(requestedFrom, length - requestedFrom, length, requestedFrom);
    }
    return new ByteWindow(first, contentLength, length, 0);
  }

  /** N for {@code Range: bytes=N-} (the only form Nix sends, to resume), else -1. */
  static long requestedFrom(String range) {
    if (range == null || !range.matches("bytes=\\d{1,18}-")) {
      return -1;
    }
    return Long.parseLong(range.substring(6, range.length() - 1));
  }

  /** How many of the next {@code readable} upstream bytes to drop (they precede the client's range). */
  int drop(int readable) {
    int n = (int) Math.min(skip, readable);
    skip -= n;
    return n;
  }

  /** {@code n} body bytes went to the client. */
  void delivered(long n) {
    delivered += n;
  }

  long delivered() {
    return delivered;
  }

  /** The body the client was promised has been sent whole (always true when no length was promised). */
  boolean complete() {
    return promised < 0 || delivered == promised;
  }

  /** A broken body can be continued elsewhere only if both the file's and the body's lengths are known. */
  boolean resumable() {
    return fileLength >= 0 && promised >= 0;
  }

  /** The file offset the next body byte must come from: where a resume starts. */
  long resumeOffset() {
    return firstByte + delivered;
  }

  /** Whether a resumed answer's Content-Range continues this body exactly, in the same file. */
  boolean continuedBy(ContentRange range) {
    return range != null && range.first() == resumeOffset() && range.total() == fileLength;
  }

  boolean cutToRange() {
    return cutToRange;
  }

  long firstByte() {
    return firstByte;
  }

  long promised() {
    return promised;
  }

  long fileLength() {
    return fileLength;
  }
}

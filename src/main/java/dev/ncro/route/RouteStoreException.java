package dev.ncro.route;

/** The route database cannot be opened or used; the message names the path or the operation. */
public final class RouteStoreException extends Exception {
  public RouteStoreException(String message, Throwable cause) {
    super(message, cause);
  }

  /** A database failure during serving (disk full, I/O error): callers degrade to a race. */
  public static final class Unchecked extends RuntimeException {
    public Unchecked(String message, Throwable cause) {
      super(message, cause);
    }
  }
}

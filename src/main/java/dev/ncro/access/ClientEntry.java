package dev.ncro.access;

/**
 * One entry of {@code server.clients} as it is now. A {@link ClientCredential} is its own fixed
 * entry; one read from a file is followed by the config side, which re-reads the file when it
 * changes, so a rotated client password or token applies without a restart.
 */
public interface ClientEntry {
  /** The credential this entry accepts now: one volatile read at most, on the request path. */
  ClientCredential current();

  /** Looks at the entry's file and reads it again if it changed; true when {@link #current()} did. */
  default boolean refresh() {
    return false;
  }

  /** False while its file's last change could not be used (the last good credential stays). */
  default boolean usable() {
    return true;
  }
}

package dev.ncro.route;

/**
 * What {@code /status}, {@code /health} and {@code /metrics} say about the route store: a shared
 * database can be down while ncro goes on serving from memory and races, and an operator must see
 * that routing is degraded without reading logs.
 */
public interface StoreStatus {
  /** The store's condition; only a database of its own (PostgreSQL) is ever anything but UP. */
  enum State {
    /** Reads and writes reach the store. */
    UP("up"),
    /** Not connected yet, at start: reads are misses, writes are queued. */
    CONNECTING("connecting"),
    /** Unreachable or failing: reads are misses, writes are queued (bounded) or dropped. */
    DOWN("down"),
    /** The database holds something that is not ncro's (or a newer schema): never written to. */
    REFUSED("refused");

    private final String label;

    State(String label) {
      this.label = label;
    }

    public String label() {
      return label;
    }
  }

  /** {@code sqlite} or {@code postgresql}. */
  String kind();

  /** Where the store is, for people: a path or a URL without credentials. */
  String location();

  State state();

  /** Why the store is not UP (the last error, with no secret in it); empty when UP. */
  String reason();

  /** Writes waiting to reach the store. */
  int queuedWrites();

  /** Writes given up (queue full, or refused by the database): the routes stay in this node's memory only. */
  long droppedWrites();

  /** Lookups that failed or timed out and were counted as misses (the request raced instead). */
  long failedReads();

  /**
   * 1 while the database password file's last change could not be used (the last good password
   * stays in use, but a restart would fail on it); 0 otherwise and for stores without one.
   */
  default int unusablePasswordFiles() {
    return 0;
  }

  /** A local file: always up, nothing queued (its writes are synchronous), nothing dropped. */
  static StoreStatus local(String kind, String location) {
    return new StoreStatus() {
      @Override
      public String kind() {
        return kind;
      }

      @Override
      public String location() {
        return location;
      }

      @Override
      public State state() {
        return State.UP;
      }

      @Override
      public String reason() {
        return "";
      }

      @Override
      public int queuedWrites() {
        return 0;
      }

      @Override
      public long droppedWrites() {
        return 0;
      }

      @Override
      public long failedReads() {
        return 0;
      }
    };
  }
}

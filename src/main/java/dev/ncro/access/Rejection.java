package dev.ncro.access;

/**
 * Why a request was turned away before routing; {@link #label} is the {@code reason} label of
 * {@code ncro_client_rejected_total}.
 */
public enum Rejection {
  /** The client is outside {@code server.allow}: 403. */
  NETWORK("network", 403),
  /** The client may fetch from the cache but is outside {@code server.admin_allow}: 403. */
  ADMIN("admin", 403),
  /** {@code server.clients} is set and the request carries no credentials: 401. */
  MISSING_CREDENTIALS("missing_credentials", 401),
  /** The request's credentials match no entry of {@code server.clients}: 401. */
  BAD_CREDENTIALS("bad_credentials", 401);

  private final String label;
  private final int status;

  Rejection(String label, int status) {
    this.label = label;
    this.status = status;
  }

  public String label() {
    return label;
  }

  public int status() {
    return status;
  }
}

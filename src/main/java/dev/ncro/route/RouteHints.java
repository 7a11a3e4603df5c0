package dev.ncro.route;

import java.util.Optional;

/**
 * Where a store path is probably served, learned elsewhere (the mesh), consulted on a local miss
 * before a full race. A hint is only a name: the router acts on it only when it names one of this
 * node's own configured upstreams, so a peer can never make ncro contact a host it does not list.
 */
public interface RouteHints {
  /** The upstream URL that probably serves {@code hash}. */
  Optional<String> upstreamFor(String hash);

  /** The hinted upstream did not have it: do not suggest it again. */
  void wrong(String hash);

  RouteHints NONE = new RouteHints() {
    @Override
    public Optional<String> upstreamFor(String hash) {
      return Optional.empty();
    }

    @Override
    public void wrong(String hash) {}
  };
}

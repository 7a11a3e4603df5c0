package dev.ncro.s3;

import dev.ncro.config.UpstreamConfig;
import dev.ncro.upstream.RequestAuth;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;

/**
 * The signers of a configuration's S3 upstreams, one credential chain per profile, kept fresh by
 * one background thread. Built at start-up (resolving credentials the first time takes about half
 * a second of class loading, measured: docs/decisions.md) and only when an S3 upstream exists, so
 * a configuration without one loads none of the AWS classes.
 */
public final class S3Auth implements AutoCloseable {
  private final ScheduledExecutorService timer;
  private final Map<String, S3Credentials> byProfile = new HashMap<>();
  private final Map<String, String> env;

  private S3Auth(ScheduledExecutorService timer, Map<String, String> env) {
    this.timer = timer;
    this.env = Map.copyOf(env);
  }

  /** Resolves the credentials of every S3 upstream in {@code upstreams}; null when there is none. */
  public static S3Auth start(List<UpstreamConfig> upstreams, Map<String, String> env) {
    if (upstreams.stream().noneMatch(u -> u.s3() != null)) {
      return null;
    }
    S3Auth auth = new S3Auth(
        Executors.newSingleThreadScheduledExecutor(
            Thread.ofPlatform().name("ncro-s3-credentials").daemon(true).factory()),
        env);
    for (UpstreamConfig u : upstreams) {
      if (u.s3() != null) {
        String profile = S3Credentials.profileName(u.s3().profile(), env);
        auth.byProfile.computeIfAbsent(
            profile,
            p -> S3Credentials.start(p, S3Credentials.chain(u.s3().profile(), env), auth.timer));
      }
    }
    return auth;
  }

  /** The authorizer of {@code u}: SigV4 for an S3 upstream, none otherwise. */
  public RequestAuth authorizer(UpstreamConfig u) {
    if (u.s3() == null) {
      return RequestAuth.NONE;
    }
    return new S3Signer(u.s3(), byProfile.get(S3Credentials.profileName(u.s3().profile(), env)));
  }

  @Override
  public void close() {
    timer.shutdownNow();
  }
}

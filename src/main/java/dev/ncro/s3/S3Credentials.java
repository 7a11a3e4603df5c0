package dev.ncro.s3;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import software.amazon.awssdk.auth.credentials.AwsBasicCredentials;
import software.amazon.awssdk.auth.credentials.AwsCredentials;
import software.amazon.awssdk.auth.credentials.AwsCredentialsProvider;
import software.amazon.awssdk.auth.credentials.AwsCredentialsProviderChain;
import software.amazon.awssdk.auth.credentials.AwsSessionCredentials;
import software.amazon.awssdk.auth.credentials.DefaultCredentialsProvider;
import software.amazon.awssdk.auth.credentials.ProfileCredentialsProvider;
import software.amazon.awssdk.core.exception.SdkClientException;
import software.amazon.awssdk.identity.spi.AwsCredentialsIdentity;
import software.amazon.awssdk.profiles.ProfileFile;
import software.amazon.awssdk.profiles.ProfileFileSupplier;

/**
 * The AWS credentials one S3 profile signs with, in the AWS default-chain order: the environment
 * ({@code AWS_ACCESS_KEY_ID}, {@code AWS_SECRET_ACCESS_KEY}, {@code AWS_SESSION_TOKEN}), then the
 * shared credentials and config files with the URL's {@code profile} (else {@code AWS_PROFILE},
 * else "default"), then the rest of the AWS SDK's default chain (web identity, container and
 * instance metadata; those are not tested here).
 *
 * <p>Requests are signed on Netty event loops, which must never wait for a credential source (an
 * instance-metadata or {@code credential_process} refresh can take seconds), so the current
 * credentials live in a volatile field and are re-resolved in the background: before temporary
 * credentials expire (at half their remaining lifetime, so the SDK's own refresh, which starts
 * minutes before expiry, is picked up in time), and every few minutes otherwise (the SDK re-reads a
 * shared file whose modification time changed, so a rotated key is picked up). An {@code ExpiredToken} refusal asks at once.
 */
public final class S3Credentials {
  private static final Logger log = LoggerFactory.getLogger(S3Credentials.class);
  static final Duration STATIC_REFRESH = Duration.ofMinutes(5);
  static final Duration MIN_REFRESH = Duration.ofSeconds(1);
  static final Duration RETRY = Duration.ofSeconds(30);

  private final String label;
  private final AwsCredentialsProvider provider;
  private final ScheduledExecutorService timer;
  private volatile AwsCredentialsIdentity current;
  private ScheduledFuture<?> next;
  private boolean found;
  private boolean reported;

  S3Credentials(String label, AwsCredentialsProvider provider, ScheduledExecutorService timer) {
    this.label = label;
    this.provider = provider;
    this.timer = timer;
  }

  /** Resolves now (blocking: call at start-up, off the event loops) and keeps them fresh. */
  static S3Credentials start(
      String label, AwsCredentialsProvider provider, ScheduledExecutorService timer) {
    S3Credentials c = new S3Credentials(label, provider, timer);
    c.refresh();
    return c;
  }

  /** The credentials to sign with now; null when no source has any (requests go unsigned). */
  AwsCredentialsIdentity current() {
    return current;
  }

  /** Re-resolves soon, on the background thread (after the upstream said the token expired). */
  void refreshSoon() {
    try {
      timer.execute(this::refresh);
    } catch (RejectedExecutionException e) {
      // shutting down: nothing to refresh for
    }
  }

  /** Resolves once and schedules the next resolution. Logs only when credentials appear or vanish. */
  synchronized void refresh() {
    Duration delay;
    try {
      AwsCredentials c = provider.resolveCredentials();
      current = c;
      if (!found) {
        log.atInfo()
            .setMessage("AWS credentials found")
            .addKeyValue("profile", label)
            .addKeyValue("source", c.providerName().orElse("unknown"))
            .addKeyValue("expires", c.expirationTime().map(Instant::toString).orElse("never"))
            .log();
      }
      found = true;
      reported = false;
      delay = nextRefresh(c.expirationTime(), Instant.now());
    } catch (RuntimeException e) {
      // The SDK's message lists the sources it tried and why they had nothing; never a secret.
      if (found || !reported) {
        log.atWarn()
            .setMessage(
                found
                    ? "AWS credentials could not be refreshed; signing with the previous ones"
                    : "no AWS credentials found; S3 requests go unsigned (a public bucket still works)")
            .addKeyValue("profile", label)
            .addKeyValue("error", e.getMessage())
            .log();
        reported = true;
      }
      delay = RETRY;
    }
    if (next != null) {
      next.cancel(false);
    }
    if (!timer.isShutdown()) {
      next = timer.schedule(this::refresh, delay.toMillis(), TimeUnit.MILLISECONDS);
    }
  }

  /**
   * When to resolve again: half the time left for credentials that expire (never sooner than a
   * second), every {@link #STATIC_REFRESH} for long-term ones.
   */
  static Duration nextRefresh(Optional<Instant> expiry, Instant now) {
    if (expiry.isEmpty()) {
      return STATIC_REFRESH;
    }
    Duration half = Duration.between(now, expiry.get()).dividedBy(2);
    if (half.compareTo(MIN_REFRESH) < 0) {
      return MIN_REFRESH;
    }
    return half.compareTo(STATIC_REFRESH) > 0 ? STATIC_REFRESH : half;
  }

  /** The profile the shared files are read with: the URL's, else {@code AWS_PROFILE}, else "default". */
  static String profileName(String profile, Map<String, String> env) {
    if (!profile.isEmpty()) {
      return profile;
    }
    String fromEnv = env.get("AWS_PROFILE");
    return fromEnv == null || fromEnv.isBlank() ? "default" : fromEnv;
  }

  /**
   * The chain for {@code profile} ("" = not given) in an environment {@code env} (the process's
   * own in production; a test passes its own, files included, so the order is testable).
   */
  static AwsCredentialsProvider chain(String profile, Map<String, String> env) {
    String name = profileName(profile, env);
    List<AwsCredentialsProvider> providers = new ArrayList<>();
    providers.add(() -> fromEnvironment(env));
    ProfileFileSupplier files = profileFiles(env);
    if (files != null) {
      providers.add(ProfileCredentialsProvider.builder()
          .profileFile(files)
          .profileName(name)
          .build());
    }
    // Everything else the SDK knows (web identity, container, instance metadata), same profile.
    providers.add(DefaultCredentialsProvider.builder().profileName(name).build());
    return AwsCredentialsProviderChain.builder()
        .reuseLastProviderEnabled(false)
        .credentialsProviders(providers)
        .build();
  }

  private static AwsCredentials fromEnvironment(Map<String, String> env) {
    String id = env.get("AWS_ACCESS_KEY_ID");
    String secret = env.get("AWS_SECRET_ACCESS_KEY");
    if (id == null || id.isBlank() || secret == null || secret.isBlank()) {
      throw SdkClientException.create(
          "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY are not both set");
    }
    String token = env.get("AWS_SESSION_TOKEN");
    return token == null || token.isBlank()
        ? AwsBasicCredentials.builder()
            .accessKeyId(id.trim())
            .secretAccessKey(secret.trim())
            .providerName("environment")
            .build()
        : AwsSessionCredentials.builder()
            .accessKeyId(id.trim())
            .secretAccessKey(secret.trim())
            .sessionToken(token.trim())
            .providerName("environment")
            .build();
  }

  /** The shared credentials and config files that exist, re-read when modified; null if neither does. */
  private static ProfileFileSupplier profileFiles(Map<String, String> env) {
    String home = env.getOrDefault("HOME", System.getProperty("user.home"));
    Path credentials =
        Path.of(env.getOrDefault("AWS_SHARED_CREDENTIALS_FILE", home + "/.aws/credentials"));
    Path config = Path.of(env.getOrDefault("AWS_CONFIG_FILE", home + "/.aws/config"));
    List<ProfileFileSupplier> found = new ArrayList<>();
    if (Files.isReadable(credentials)) {
      found.add(ProfileFileSupplier.reloadWhenModified(credentials, ProfileFile.Type.CREDENTIALS));
    }
    if (Files.isReadable(config)) {
      found.add(ProfileFileSupplier.reloadWhenModified(config, ProfileFile.Type.CONFIGURATION));
    }
    if (found.isEmpty()) {
      return null;
    }
    return found.size() == 1
        ? found.get(0)
        : ProfileFileSupplier.aggregate(found.toArray(ProfileFileSupplier[]::new));
  }
}

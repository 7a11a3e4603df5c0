package dev.ncro.e2e;

import static org.assertj.core.api.Assertions.assertThat;

import dev.ncro.support.NixFixture;
import java.io.IOException;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.TreeSet;

/**
 * One real Nix client with nothing in it: an empty chroot store ({@code local?root=DIR}, no daemon)
 * and its own client-side caches ({@code $XDG_CACHE_HOME/nix/binary-cache-v6.sqlite}), so nothing
 * Nix remembers (cache info, narinfos, misses) leaks from one client to the next.
 */
public final class NixClient {
  private static final Duration TIMEOUT = Duration.ofMinutes(5);

  private final Path dir;
  private final Map<String, String> env;

  public NixClient(Path dir) throws IOException {
    this.dir = Files.createDirectories(dir);
    this.env = NixFixture.environment(dir.resolve("home"));
  }

  public String storeUri() {
    return "local?root=" + dir.resolve("root");
  }

  /**
   * {@code nix-store --realise path} with exactly these substituters, in this order, trusting
   * {@code trustedKeys}; {@code options} are more {@code --option name value} pairs or flags.
   */
  public NixFixture.Result realise(
      List<URI> substituters, String trustedKeys, String path, String... options)
      throws IOException, InterruptedException {
    List<String> cmd = new ArrayList<>(List.of(
        "nix-store",
        "--store",
        storeUri(),
        "--realise",
        path,
        "--option",
        "substituters",
        String.join(" ", substituters.stream().map(URI::toString).toList()),
        "--option",
        "trusted-public-keys",
        trustedKeys));
    cmd.addAll(List.of(options));
    return NixFixture.exec(cmd, env, TIMEOUT);
  }

  /**
   * {@code nix-store --realise} of the fixture's closure through {@code substituters} succeeds (the
   * failure shows Nix's output), and the closure arrived valid ({@link #assertHoldsValid}).
   */
  public void assertSubstitutes(List<URI> substituters, NixFixture fx)
      throws IOException, InterruptedException {
    NixFixture.Result r = realise(substituters, fx.trustedPublicKeys(), fx.root());
    assertThat(r.exitCode())
        .as("nix-store --realise through ncro:\n%s", r.output())
        .isZero();
    assertHoldsValid(fx);
  }

  /** The fixture's whole closure is in this client's store, and {@code nix-store --verify-path} accepts every path. */
  public void assertHoldsValid(NixFixture fx) throws IOException, InterruptedException {
    assertThat(requisites(fx.root())).containsExactlyElementsOf(new TreeSet<>(fx.paths()));
    NixFixture.Result verified = verify(fx.paths());
    assertThat(verified.exitCode())
        .as("nix-store --verify-path:\n%s", verified.output())
        .isZero();
  }

  public NixFixture.Result verify(Collection<String> paths)
      throws IOException, InterruptedException {
    List<String> cmd =
        new ArrayList<>(List.of("nix-store", "--store", storeUri(), "--verify-path"));
    cmd.addAll(paths);
    return NixFixture.exec(cmd, env, TIMEOUT);
  }

  /** The closure of {@code path} as this client's store knows it. */
  public Set<String> requisites(String path) throws IOException, InterruptedException {
    NixFixture.Result r = NixFixture.exec(
        List.of("nix-store", "--store", storeUri(), "--query", "--requisites", path), env, TIMEOUT);
    if (r.exitCode() != 0) {
      throw new IllegalStateException("nix-store -qR failed: " + r.stderr());
    }
    return new TreeSet<>(r.stdout().lines().toList());
  }

  /**
   * What Nix's own narinfo cache says about {@code hash} for {@code cacheUri}: 1 = present, 0 =
   * remembered as missing, empty = nothing recorded (errors are not recorded).
   */
  public Optional<Integer> cachedNarinfo(URI cacheUri, String hash) throws SQLException {
    Path db = dir.resolve("home/.cache/nix/binary-cache-v6.sqlite");
    if (!Files.exists(db)) {
      return Optional.empty();
    }
    try (Connection c = DriverManager.getConnection("jdbc:sqlite:file:" + db + "?mode=ro");
        PreparedStatement q = c.prepareStatement(
            "select n.present from NARs n join BinaryCaches b on n.cache = b.id where b.url = ? and n.hashPart = ?")) {
      q.setString(1, cacheUri.toString());
      q.setString(2, hash);
      try (ResultSet rs = q.executeQuery()) {
        return rs.next() ? Optional.of(rs.getInt(1)) : Optional.empty();
      }
    }
  }
}

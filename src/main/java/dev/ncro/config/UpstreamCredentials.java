package dev.ncro.config;

/**
 * The credentials ncro presents to one upstream, resolved at start-up from {@code username} with
 * {@code password} or {@code password_file}, {@code bearer_token_file}, or the top-level
 * {@code netrc_file}; those read from a file are {@link FromFile}, so a rotated secret is picked up. Every {@code toString} leaves the secret out: these records travel through
 * config dumps, test failures and debuggers, and a secret must never reach a log.
 */
public sealed interface UpstreamCredentials {
  /** Where they came from, for {@code /status} and messages ("password_file", "netrc_file"...); never the secret. */
  String source();

  /** No credentials. */
  record None() implements UpstreamCredentials {
    @Override
    public String source() {
      return "none";
    }
  }

  /** HTTP Basic. A netrc entry without a login is Basic with an empty user name, as curl sends it. */
  record Basic(String username, String password, String source) implements UpstreamCredentials {
    @Override
    public String toString() {
      return "Basic[username=" + username + ", password=<redacted>, source=" + source + "]";
    }
  }

  /** {@code Authorization: Bearer <token>}. */
  record Bearer(String token, String source) implements UpstreamCredentials {
    @Override
    public String toString() {
      return "Bearer[token=<redacted>, source=" + source + "]";
    }
  }

  /**
   * Credentials read from a file that ncro reads again when it changes ({@link CredentialFile}):
   * {@code initial} is what it held at start-up.
   */
  record FromFile(UpstreamCredentials initial, CredentialFile<UpstreamCredentials> file)
      implements UpstreamCredentials {
    @Override
    public String source() {
      return initial.source();
    }

    @Override
    public String toString() {
      return "FromFile[" + initial + ", " + file + "]";
    }
  }

  UpstreamCredentials NONE = new None();
}

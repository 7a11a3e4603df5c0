package dev.ncro.config;

import java.io.IOException;
import java.nio.file.Path;

/**
 * A file credentials were read from (an upstream's {@code password_file} or
 * {@code bearer_token_file}, the top-level {@code netrc_file}, the database's
 * {@code password_file}), kept so that it can be read again when it changes; {@code T} is what it
 * yields (an upstream's credentials, a password).
 *
 * <p>Tokens get rotated: by vault-agent, a refreshed systemd credential, a CI secret store. Nix
 * itself reads its {@code netrc-file} for every download, so a user who replaces a token expects it
 * to take effect without restarting anything. A re-read goes through exactly the checks of
 * start-up; its error message names the field and the path, never the content.
 */
public final class CredentialFile<T> {
  /** Reads and checks the file; the same code start-up used. */
  @FunctionalInterface
  interface Reader<T> {
    T read(Path path) throws CredentialFiles.FileProblem;
  }

  private final String field;
  private final Path path;
  private final Reader<T> reader;

  CredentialFile(String field, Path path, Reader<T> reader) {
    this.field = field;
    this.path = path;
    this.reader = reader;
  }

  /**
   * A one-line secret file (a password), read with the checks of start-up: one trailing newline
   * removed, no second line, no control character.
   */
  public static CredentialFile<String> secret(String field, Path path) {
    return new CredentialFile<>(field, path, CredentialFiles::secret);
  }

  /** The config field it was named by ({@code password_file}, {@code bearer_token_file}, {@code netrc_file}). */
  public String field() {
    return field;
  }

  public Path path() {
    return path;
  }

  /**
   * What the file holds now (for a netrc without an entry for the host,
   * {@link UpstreamCredentials#NONE}). Throws with a message fit for a log line when the file is
   * missing, unreadable or malformed.
   */
  public T read() throws IOException {
    try {
      return reader.read(path);
    } catch (CredentialFiles.FileProblem e) {
      throw new IOException(field + ": " + e.getMessage());
    }
  }

  @Override
  public String toString() {
    return "CredentialFile[" + field + "=" + path + "]";
  }
}

package dev.ncro.config;

import java.io.IOException;
import java.nio.file.Path;

/**
 * A file one upstream's credentials were read from ({@code password_file}, {@code bearer_token_file}
 * or the top-level {@code netrc_file}), kept so that they can be read again when it changes.
 *
 * <p>Tokens get rotated: by vault-agent, a refreshed systemd credential, a CI secret store. Nix
 * itself reads its {@code netrc-file} for every download, so a user who replaces a token expects it
 * to take effect without restarting anything. A re-read goes through exactly the checks of
 * start-up; its error message names the field and the path, never the content.
 */
public final class CredentialFile {
  /** Reads and checks the file; the same code start-up used. */
  @FunctionalInterface
  interface Reader {
    UpstreamCredentials read(Path path) throws CredentialFiles.FileProblem;
  }

  private final String field;
  private final Path path;
  private final Reader reader;

  CredentialFile(String field, Path path, Reader reader) {
    this.field = field;
    this.path = path;
    this.reader = reader;
  }

  /** The config field it was named by ({@code password_file}, {@code bearer_token_file}, {@code netrc_file}). */
  public String field() {
    return field;
  }

  public Path path() {
    return path;
  }

  /**
   * The credentials the file holds now ({@link UpstreamCredentials#NONE} for a netrc without an
   * entry for the host). Throws with a message fit for a log line when the file is missing,
   * unreadable or malformed.
   */
  public UpstreamCredentials read() throws IOException {
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

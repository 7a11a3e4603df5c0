package dev.ncro.config;

import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.AccessDeniedException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.security.cert.Certificate;
import java.security.cert.CertificateException;
import java.security.cert.CertificateFactory;
import java.util.Collection;

/**
 * Reads the files credentials and trust come from ({@code password_file}, {@code bearer_token_file},
 * {@code netrc_file}, {@code ca_file}) at start-up, so {@code --check} and start-up report a missing,
 * unreadable or malformed one with the field, the path and, where it helps, the line. Messages
 * never quote a file's content.
 */
final class CredentialFiles {
  /** Far above any real secret or netrc; a bound so a wrong path (a disk image) cannot fill the heap. */
  static final int MAX_BYTES = 1 << 20;

  /** A problem with one file, already phrased for the user. */
  static final class FileProblem extends Exception {
    FileProblem(String message) {
      super(message);
    }
  }

  private CredentialFiles() {}

  static String text(Path path) throws FileProblem {
    if (Files.exists(path) && !Files.isRegularFile(path)) {
      // A FIFO or a device would block or never end: start-up must not hang on a wrong path.
      throw new FileProblem(path + ": not a regular file");
    }
    byte[] bytes;
    try (InputStream in = Files.newInputStream(path)) {
      bytes = in.readNBytes(MAX_BYTES + 1);
    } catch (NoSuchFileException e) {
      throw new FileProblem(path + ": no such file");
    } catch (AccessDeniedException e) {
      throw new FileProblem(
          path + ": permission denied (ncro runs as " + System.getProperty("user.name") + ")");
    } catch (IOException e) {
      throw new FileProblem(path + ": cannot read: " + e.getMessage());
    }
    if (bytes.length > MAX_BYTES) {
      throw new FileProblem(path + ": larger than " + MAX_BYTES / 1024 + " KiB");
    }
    try {
      return StandardCharsets.UTF_8
          .newDecoder()
          .onMalformedInput(CodingErrorAction.REPORT)
          .decode(ByteBuffer.wrap(bytes))
          .toString();
    } catch (CharacterCodingException e) {
      throw new FileProblem(path + ": not UTF-8 text");
    }
  }

  /**
   * A one-line secret: the file's content with one trailing newline ({@code \n} or {@code \r\n})
   * removed, as {@code echo secret > file} writes it. Empty, or a second line, or a control
   * character (which would break or inject into an HTTP header) is an error naming the line.
   */
  static String secret(Path path) throws FileProblem {
    String s = text(path);
    if (s.endsWith("\r\n")) {
      s = s.substring(0, s.length() - 2);
    } else if (s.endsWith("\n")) {
      s = s.substring(0, s.length() - 1);
    }
    if (s.isEmpty()) {
      throw new FileProblem(path + ": empty");
    }
    int line = 1;
    for (int i = 0; i < s.length(); i++) {
      char c = s.charAt(i);
      if (c == '\n') {
        throw new FileProblem(path + ": line " + (line + 1)
            + ": more than one line (only one trailing newline is removed)");
      }
      if (Character.isISOControl(c)) {
        throw new FileProblem(
            path + ": line " + line + ": a control character (0x" + Integer.toHexString(c) + ")");
      }
    }
    return s;
  }

  static Netrc netrc(Path path) throws FileProblem {
    try {
      return Netrc.parse(text(path));
    } catch (Netrc.SyntaxException e) {
      throw new FileProblem(path + ": " + e.getMessage());
    }
  }

  /** Checks that {@code path} holds at least one PEM (or DER) X.509 certificate. */
  static int certificates(Path path) throws FileProblem {
    if (!Files.exists(path)) {
      throw new FileProblem(path + ": no such file");
    }
    if (!Files.isRegularFile(path)) {
      throw new FileProblem(path + ": not a regular file");
    }
    try (InputStream in = Files.newInputStream(path)) {
      Collection<? extends Certificate> certs =
          CertificateFactory.getInstance("X.509").generateCertificates(in);
      if (certs.isEmpty()) {
        throw new FileProblem(
            path + ": no certificate found (expected PEM: -----BEGIN CERTIFICATE-----)");
      }
      return certs.size();
    } catch (AccessDeniedException e) {
      throw new FileProblem(path + ": permission denied");
    } catch (IOException | CertificateException e) {
      throw new FileProblem(path + ": not a PEM certificate file: " + e.getMessage());
    }
  }
}

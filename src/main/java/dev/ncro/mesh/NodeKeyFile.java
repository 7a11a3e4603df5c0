package dev.ncro.mesh;

import java.io.IOException;
import java.io.OutputStream;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.FileSystemException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.Arrays;
import java.util.Objects;
import java.util.function.Supplier;

/**
 * The mesh key file on disk, apart from what its bytes mean ({@link NodeIdentity} judges those):
 * read it when it exists, otherwise create it so that the secret is never readable by others and
 * never left half-written, and say which path failed and why.
 *
 * <p>The layout is the original Go ncro's, so a key file can move between the two: the raw 64-byte
 * ed25519 private key of Go's {@code crypto/ed25519}, the 32-byte seed followed by the 32-byte
 * public key, mode 0600.
 */
final class NodeKeyFile {
  /** Length of the key file: seed then public key. */
  static final int BYTES = 64;

  private NodeKeyFile() {}

  /**
   * The 64 bytes of {@code keyFile}; when it does not exist, creates it (parent directories
   * included) holding {@code newContent.get()} and returns that. The file is created with mode 0600
   * before any key byte is written. When another process creates it between our read and our
   * create, its content is read and returned instead. The caller wipes the returned array.
   *
   * @throws IOException when the file cannot be read or written or is not 64 bytes; the message
   *     names the path
   */
  static byte[] readOrCreate(Path keyFile, Supplier<byte[]> newContent) throws IOException {
    Objects.requireNonNull(keyFile, "keyFile");
    try {
      return read(keyFile);
    } catch (NoSuchFileException missing) {
      // fall through: create it
    }
    byte[] content = newContent.get();
    if (content.length != BYTES) {
      throw new IllegalArgumentException("new key file content of " + content.length + " bytes");
    }
    if (create(keyFile, content)) {
      return content;
    }
    Arrays.fill(content, (byte) 0);
    return read(keyFile); // someone else created it meanwhile: use theirs
  }

  private static byte[] read(Path keyFile) throws IOException {
    long size = Files.size(keyFile); // NoSuchFileException when missing
    if (size != BYTES) {
      throw new IOException("mesh key file "
          + keyFile
          + ": "
          + size
          + " bytes, expected "
          + BYTES
          + " (raw ed25519 private key: 32-byte seed followed by the 32-byte public key)");
    }
    return Files.readAllBytes(keyFile);
  }

  /**
   * Writes {@code content} to a new {@code keyFile}; false when the file appeared meanwhile. The key
   * is written and synced to a private temporary file first and then hard-linked into place, which
   * fails rather than overwrites when the name exists: a concurrent reader sees no file or the whole
   * key, never an empty or half-written one (creating the file in place and then writing it made a
   * second process starting at the same moment fail with "0 bytes, expected 64").
   */
  private static boolean create(Path keyFile, byte[] content) throws IOException {
    Path parent = keyFile.toAbsolutePath().getParent();
    if (parent == null) { // the file system's root, not a file: let createFile say so
      return createInPlace(keyFile, content);
    }
    Files.createDirectories(parent);
    Path temp = parent.resolve("." + keyFile.getFileName() + "."
        + ProcessHandle.current().pid() + "." + Thread.currentThread().threadId() + ".tmp");
    try {
      Files.deleteIfExists(temp); // left by a crash of this very pid and thread: ours to remove
      createOwnerOnly(temp);
      write(temp, content, keyFile);
      try {
        Files.createLink(keyFile, temp);
        return true;
      } catch (FileAlreadyExistsException raced) {
        return false;
      } catch (UnsupportedOperationException | FileSystemException noHardLinks) {
        return createInPlace(keyFile, content);
      }
    } finally {
      Files.deleteIfExists(temp);
    }
  }

  /** Without hard links: create the name first (0600), then write; a reader may see it empty. */
  private static boolean createInPlace(Path keyFile, byte[] content) throws IOException {
    try {
      createOwnerOnly(keyFile);
    } catch (FileAlreadyExistsException raced) {
      return false;
    }
    try {
      write(keyFile, content, keyFile);
    } catch (IOException e) {
      Files.deleteIfExists(keyFile); // never leave a truncated key behind
      throw e;
    }
    return true;
  }

  private static void write(Path file, byte[] content, Path keyFile) throws IOException {
    try (OutputStream out =
        Files.newOutputStream(file, StandardOpenOption.WRITE, StandardOpenOption.SYNC)) {
      out.write(content);
    } catch (IOException e) {
      throw new IOException("mesh key file " + keyFile + ": cannot write: " + e.getMessage(), e);
    }
  }

  /** Creates an empty file that only its owner may read and write (0600), atomically. */
  private static void createOwnerOnly(Path file) throws IOException {
    try {
      Files.createFile(
          file, PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rw-------")));
    } catch (UnsupportedOperationException notPosix) {
      Files.createFile(file); // a non-POSIX file system: its default ACLs apply
    }
  }
}

package dev.ncro.narinfo;

/** A narinfo that Nix itself would refuse: the message says which line or field is wrong. */
public final class NarInfoException extends Exception {
  public NarInfoException(String message) {
    super(message);
  }
}

package dev.ncro;

/** Entry point: parses the command line, loads the config and wires the components. */
public final class Main {
  private Main() {}

  public static void main(String[] args) {
    System.out.println("ncro");
  }
}

package dev.ncro.config;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;

/**
 * A netrc file as curl (and so Nix, through {@code netrc-file}) reads it: whitespace-separated
 * tokens {@code machine NAME}, {@code default}, then {@code login}, {@code password},
 * {@code account}; {@code macdef NAME} skips to the next blank line; double-quoted values may hold
 * spaces with {@code \"} and {@code \\} escapes. A machine matches the upstream's host (not its
 * port); {@code default} matches any host and must come last. Anything else is an error naming
 * the line, so an admin sees a typo at start-up instead of a wall of 401s.
 */
public final class Netrc {
  /** One entry's credentials. {@code login} is empty when the entry has none (Cachix, Attic tokens). */
  public record Entry(String login, String password, int line) {
    @Override
    public String toString() {
      return "Entry[login=" + login + ", password=<redacted>, line=" + line + "]";
    }
  }

  /** A syntax error on {@code line} (1-based). */
  public static final class SyntaxException extends Exception {
    private final int line;

    SyntaxException(int line, String message) {
      super("line " + line + ": " + message);
      this.line = line;
    }

    public int line() {
      return line;
    }
  }

  private final Map<String, Entry> machines;
  private final Entry fallback;

  private Netrc(Map<String, Entry> machines, Entry fallback) {
    this.machines = machines;
    this.fallback = fallback;
  }

  /** The entry for {@code host}: its {@code machine}, else {@code default}. Only entries with a password count. */
  public Optional<Entry> forHost(String host) {
    Entry e = machines.get(host.toLowerCase(Locale.ROOT));
    return Optional.ofNullable(e != null ? e : fallback);
  }

  private record Token(String text, int line, boolean quoted) {}

  public static Netrc parse(String text) throws SyntaxException {
    List<Token> tokens = tokens(text);
    Map<String, Entry> machines = new LinkedHashMap<>();
    Entry fallback = null;
    int i = 0;
    while (i < tokens.size()) {
      Token t = tokens.get(i);
      String kw = t.text();
      if (t.quoted() || !(kw.equals("machine") || kw.equals("default"))) {
        throw new SyntaxException(
            t.line(), "expected \"machine\" or \"default\", found " + describe(t));
      }
      if (fallback != null) {
        throw new SyntaxException(
            t.line(), "\"" + kw + "\" after \"default\" (default must be the last entry)");
      }
      String name = null;
      i++;
      if (kw.equals("machine")) {
        if (i >= tokens.size()) {
          throw new SyntaxException(t.line(), "\"machine\" without a host name");
        }
        name = tokens.get(i++).text().toLowerCase(Locale.ROOT);
      }
      String login = "";
      String password = null;
      while (i < tokens.size()) {
        Token k = tokens.get(i);
        if (!k.quoted() && (k.text().equals("machine") || k.text().equals("default"))) {
          break;
        }
        if (k.quoted()
            || !(k.text().equals("login")
                || k.text().equals("password")
                || k.text().equals("account"))) {
          throw new SyntaxException(
              k.line(),
              "expected login, password, account, machine or default, found " + describe(k));
        }
        if (i + 1 >= tokens.size()) {
          throw new SyntaxException(k.line(), "\"" + k.text() + "\" without a value");
        }
        String value = tokens.get(i + 1).text();
        switch (k.text()) {
          case "login" -> login = value;
          case "password" -> password = value;
          default -> {} // account: not used over HTTP
        }
        i += 2;
      }
      if (password == null) {
        continue; // an entry without a password gives nothing to send (curl would prompt)
      }
      Entry e = new Entry(login, password, t.line());
      if (name == null) {
        fallback = e;
      } else {
        machines.putIfAbsent(name, e); // curl uses the first matching machine
      }
    }
    return new Netrc(machines, fallback);
  }

  /**
   * Never the token itself: an unexpected word is most often part of a password with an unquoted
   * space ({@code password my secret}), and a start-up error must not print it.
   */
  private static String describe(Token t) {
    return t.quoted()
        ? "a quoted value"
        : "an unexpected word of " + t.text().length() + " characters";
  }

  private static List<Token> tokens(String text) throws SyntaxException {
    List<Token> out = new ArrayList<>();
    String[] lines = text.split("\r?\n", -1);
    boolean inMacro = false;
    for (int n = 0; n < lines.length; n++) {
      String line = lines[n];
      int lineNo = n + 1;
      if (inMacro) {
        inMacro = !line.isBlank();
        continue;
      }
      int p = 0;
      while (p < line.length()) {
        char c = line.charAt(p);
        if (Character.isWhitespace(c)) {
          p++;
        } else if (c == '#' && line.substring(0, p).isBlank()) {
          break; // a comment line (a '#' inside a line may be part of a password)
        } else if (c == '"') {
          StringBuilder sb = new StringBuilder();
          p++;
          boolean closed = false;
          while (p < line.length()) {
            char q = line.charAt(p++);
            if (q == '\\' && p < line.length()) {
              char e = line.charAt(p++);
              sb.append(
                  switch (e) {
                    case 'n' -> '\n';
                    case 'r' -> '\r';
                    case 't' -> '\t';
                    default -> e;
                  });
            } else if (q == '"') {
              closed = true;
              break;
            } else {
              sb.append(q);
            }
          }
          if (!closed) {
            throw new SyntaxException(lineNo, "unterminated quoted value");
          }
          out.add(new Token(sb.toString(), lineNo, true));
        } else {
          int s = p;
          while (p < line.length() && !Character.isWhitespace(line.charAt(p))) {
            p++;
          }
          String word = line.substring(s, p);
          if (word.equals("macdef")
              && (out.isEmpty() || !isValueKeyword(out.get(out.size() - 1)))) {
            inMacro =
                true; // the macro's name is on this line; its body runs to the next blank line
            break;
          }
          out.add(new Token(word, lineNo, false));
        }
      }
    }
    return out;
  }

  private static boolean isValueKeyword(Token t) {
    return !t.quoted()
        && (t.text().equals("login")
            || t.text().equals("password")
            || t.text().equals("account")
            || t.text().equals("machine"));
  }
}

package dev.ncro.config;

import java.nio.file.InvalidPathException;
import java.nio.file.Path;
import java.util.Map;

/**
 * Where the route database goes when {@code cache.db_path} is not set: somewhere the user running
 * ncro can write, as systemd and the XDG base directory specification define it. First match wins:
 * <ol>
 *   <li>{@code $STATE_DIRECTORY/routes.db} (systemd's {@code StateDirectory=}; the first entry
 *       when it lists several, separated by colons);
 *   <li>{@code $XDG_STATE_HOME/ncro/routes.db} (ignored unless absolute, as the specification says);
 *   <li>{@code $HOME/.local/state/ncro/routes.db} ({@code user.home} when {@code HOME} is unset).
 * </ol>
 */
public final class DefaultPaths {
  private DefaultPaths() {}

  /**
   * The default route database for this environment, or null when none can be derived; throws
   * {@link java.nio.file.InvalidPathException} when the variable it comes from is not a path.
   */
  public static Path routeDb(Map<String, String> env) {
    String state = env.get("STATE_DIRECTORY");
    if (state != null && !state.isEmpty()) {
      String first = state.split(":", -1)[0];
      if (!first.isEmpty()) {
        return Path.of(first, "routes.db");
      }
    }
    String xdg = env.get("XDG_STATE_HOME");
    if (xdg != null && xdg.startsWith("/")) {
      return Path.of(xdg, "ncro", "routes.db");
    }
    String home = env.get("HOME");
    if (home == null || home.isEmpty()) {
      home = System.getProperty("user.home");
    }
    if (home == null || home.isEmpty() || home.equals("?")) {
      return null;
    }
    return Path.of(home, ".local", "state", "ncro", "routes.db");
  }

  /** One line for {@code --help}: the default and where it came from. */
  public static String describeRouteDb(Map<String, String> env) {
    String p;
    try {
      Path db = routeDb(env);
      p = db == null ? "none (no STATE_DIRECTORY, XDG_STATE_HOME or HOME)" : db.toString();
    } catch (InvalidPathException e) {
      p = "none (STATE_DIRECTORY, XDG_STATE_HOME or HOME is not a valid path)";
    }
    return "Route database (cache.db_path) when not set in the config or NCRO_DB_PATH: " + p
        + "  [$STATE_DIRECTORY/routes.db, else $XDG_STATE_HOME/ncro/routes.db, else ~/.local/state/ncro/routes.db]";
  }
}

package dev.ncro.config;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** Where the route database goes when nobody says: systemd's state directory, XDG, then HOME. */
class DefaultPathsTest {
  private static Path db(Map<String, String> env) throws ConfigException {
    return ConfigLoader.load((String) null, null, env).cache().dbPath();
  }

  @Test
  void systemdStateDirectoryFirstThenXdgThenHome() throws Exception {
    assertThat(db(
            Map.of("STATE_DIRECTORY", "/var/lib/ncro", "XDG_STATE_HOME", "/x", "HOME", "/home/u")))
        .isEqualTo(Path.of("/var/lib/ncro/routes.db"));
    assertThat(db(Map.of("STATE_DIRECTORY", "/var/lib/ncro:/var/lib/other", "HOME", "/home/u")))
        .as("the first of several state directories")
        .isEqualTo(Path.of("/var/lib/ncro/routes.db"));
    assertThat(db(Map.of("XDG_STATE_HOME", "/home/u/state", "HOME", "/home/u")))
        .isEqualTo(Path.of("/home/u/state/ncro/routes.db"));
    assertThat(db(Map.of("XDG_STATE_HOME", "relative/state", "HOME", "/home/u")))
        .as("a relative XDG_STATE_HOME is ignored, as the XDG specification says")
        .isEqualTo(Path.of("/home/u/.local/state/ncro/routes.db"));
    assertThat(db(Map.of("HOME", "/home/u")))
        .isEqualTo(Path.of("/home/u/.local/state/ncro/routes.db"));
  }

  @Test
  void explicitSettingsWin() throws Exception {
    Map<String, String> env = Map.of("STATE_DIRECTORY", "/var/lib/ncro", "HOME", "/home/u");
    assertThat(ConfigLoader.load("cache:\n  db_path: /srv/ncro/r.db\n", "f.yaml", env)
            .cache()
            .dbPath())
        .isEqualTo(Path.of("/srv/ncro/r.db"));
    assertThat(db(Map.of("STATE_DIRECTORY", "/var/lib/ncro", "NCRO_DB_PATH", "/tmp/n.db")))
        .isEqualTo(Path.of("/tmp/n.db"));
  }

  @Test
  void helpNamesTheResolvedDefault() {
    assertThat(DefaultPaths.describeRouteDb(Map.of("XDG_STATE_HOME", "/s")))
        .contains(
            "/s/ncro/routes.db",
            "STATE_DIRECTORY",
            "XDG_STATE_HOME",
            "~/.local/state/ncro/routes.db");
  }
}

package dev.ncro.route;

import static org.assertj.core.api.Assertions.assertThat;

import com.zaxxer.hikari.util.Credentials;
import dev.ncro.config.CredentialFile;
import dev.ncro.support.FileTimes;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The database password follows its file for new connections and is hidden in every version. */
class PostgresPasswordTest {
  @TempDir
  Path dir;

  @Test
  void newConnectionsGetTheRotatedPasswordAndBadFilesKeepTheLastGoodOne() throws Exception {
    Path file = Files.writeString(dir.resolve("db-password"), "old-pw-1\n");
    PostgresPassword p = new PostgresPassword(
        "ncro", "old-pw-1", CredentialFile.secret("cache.postgresql.password_file", file));
    Credentials c = p.getCredentials();
    assertThat(c.getUsername()).isEqualTo("ncro");
    assertThat(c.getPassword()).isEqualTo("old-pw-1");

    Files.writeString(file, "new-pw-2\n");
    FileTimes.bump(file);
    assertThat(p.getCredentials().getPassword()).isEqualTo("new-pw-2");

    Files.writeString(file, "");
    FileTimes.bump(file);
    assertThat(p.getCredentials().getPassword()).as("an empty file").isEqualTo("new-pw-2");
    Files.delete(file);
    assertThat(p.getCredentials().getPassword()).as("a missing file").isEqualTo("new-pw-2");

    // A driver message about either connection shows neither password.
    assertThat(p.scrub("password authentication failed: old-pw-1 / new-pw-2"))
        .isEqualTo("password authentication failed: ******** / ********");
  }

  @Test
  void withoutAFileThePasswordIsFixedAndAnEmptyOneIsNone() {
    assertThat(new PostgresPassword("ncro", "pw", null).getCredentials().getPassword())
        .isEqualTo("pw");
    Credentials none = new PostgresPassword("ncro", "", null).getCredentials();
    assertThat(none.getPassword()).isNull(); // trust or certificate authentication
    assertThat(new PostgresPassword("ncro", "", null).scrub("no secret here"))
        .isEqualTo("no secret here");
  }
}

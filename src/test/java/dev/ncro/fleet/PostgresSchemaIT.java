package dev.ncro.fleet;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.ncro.Ncro;
import dev.ncro.config.ConfigLoader;
import dev.ncro.route.PostgresRouteBackend;
import dev.ncro.route.RouteStoreException;
import dev.ncro.support.Await;
import dev.ncro.support.NcroHarness;
import dev.ncro.support.TestKey;
import dev.ncro.support.TestNarinfo;
import dev.ncro.support.TestUpstream;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * What ncro does with the database {@code cache.postgresql.url} names, at start: creates its schema
 * in an empty one, refuses one that holds something else (or a newer schema, or wrong credentials)
 * with a message naming it, and starts degraded, then connects, when the server is not there yet.
 */
class PostgresSchemaIT extends WithPostgresFleet {
  private static final TestKey KEY = new TestKey("schema-1");

  private TestUpstream upstream;

  @BeforeEach
  void startUpstream() throws Exception {
    upstream = open.keep(TestUpstream.start());
  }

  private NcroHarness node() throws Exception {
    return fleet.node(List.of(upstream.uri()), KEY);
  }

  private List<String> tables() throws Exception {
    List<String> out = new ArrayList<>();
    try (Connection c = pg.connect(fleet.database);
        Statement st = c.createStatement();
        ResultSet rs = st.executeQuery(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' ORDER BY 1")) {
      while (rs.next()) {
        out.add(rs.getString(1));
      }
    }
    return out;
  }

  @Test
  void anEmptyDatabaseGetsTheVersionedSchema() throws Exception {
    assertThat(tables()).isEmpty();
    node();
    assertThat(tables()).containsExactly("ncro_negatives", "ncro_routes", "ncro_schema");
    try (Connection c = pg.connect(fleet.database);
        Statement st = c.createStatement();
        ResultSet rs = st.executeQuery("SELECT application, version FROM ncro_schema")) {
      assertThat(rs.next()).isTrue();
      assertThat(rs.getString(1)).isEqualTo("ncro");
      assertThat(rs.getInt(2)).isEqualTo(1);
    }
    // A second node (and a restart) finds the schema in place and uses it.
    NcroHarness second = node();
    assertThat(second.get("/status").statusCode()).isEqualTo(200);
    assertThat(PostgresFleet.text(second.get("/status").body())).contains("\"state\":\"up\"");
  }

  @Test
  void aMemoryMissIsOneLookupByPrimaryKeyInEachTable() throws Exception {
    node();
    StringBuilder plan = new StringBuilder();
    try (Connection c = pg.connect(fleet.database);
        Statement st = c.createStatement()) {
      // Tables this small are scanned whatever the indexes; forbid that to see which index the
      // lookup can use.
      st.execute("SET enable_seqscan = off");
      try (var ps = c.prepareStatement("EXPLAIN " + PostgresRouteBackend.lookupSql())) {
        ps.setArray(
            1, c.createArrayOf("text", new Object[] {TestNarinfo.hash(1), TestNarinfo.hash(2)}));
        try (ResultSet rs = ps.executeQuery()) {
          while (rs.next()) {
            plan.append(rs.getString(1)).append('\n');
          }
        }
      }
    }
    assertThat(plan.toString())
        .contains("ncro_routes_pkey")
        .contains("ncro_negatives_pkey")
        .doesNotContain("Seq Scan");
  }

  @Test
  void aDatabaseHoldingSomethingElseIsRefusedByNameAndLeftAlone() throws Exception {
    pg.sql(
        fleet.database,
        "CREATE TABLE orders (id int PRIMARY KEY, total numeric)",
        "INSERT INTO orders VALUES (1, 9.5)");
    pg.sql(fleet.database, "ALTER TABLE orders OWNER TO " + fleet.database);
    assertThatThrownBy(this::node)
        .isInstanceOf(RouteStoreException.class)
        .hasMessageContaining("cache.postgresql.url")
        .hasMessageContaining("database " + fleet.database)
        .hasMessageContaining("not ncro's")
        .hasMessageContaining("orders");
    assertThat(tables()).containsExactly("orders");
  }

  @Test
  void aNewerSchemaIsRefused() throws Exception {
    node();
    open.close();
    pg.sql(fleet.database, "UPDATE ncro_schema SET version = 99");
    assertThatThrownBy(this::node)
        .isInstanceOf(RouteStoreException.class)
        .hasMessageContaining("schema version 99, newer than this ncro's 1");
  }

  @Test
  void aWrongPasswordIsAStartUpErrorThatNamesTheFieldButNotThePassword() throws Exception {
    String wrong = "not-the-password-" + System.nanoTime();
    Files.writeString(fleet.passwordFile, wrong + "\n");
    assertThatThrownBy(this::node)
        .isInstanceOf(RouteStoreException.class)
        .hasMessageContaining("cache.postgresql.password_file")
        .hasMessageContaining("password authentication failed")
        .satisfies(
            e -> assertThat(e.getMessage()).doesNotContain(wrong).doesNotContain(fleet.password));
  }

  @Test
  void anUnreachableServerAtStartIsADegradedNodeThatConnectsLater() throws Exception {
    pg.stop();
    NcroHarness n = node();
    assertThat(PostgresFleet.text(n.get("/status").body())).contains("\"state\":\"down\"");
    HttpResponse<byte[]> health = n.get("/health");
    assertThat(health.statusCode()).isEqualTo(200);
    String h = TestNarinfo.hash(7);
    upstream.putNarinfo(h, TestNarinfo.make(h, "nar/" + h + ".nar.xz", 100, KEY));
    assertThat(n.get("/" + h + ".narinfo").statusCode()).isEqualTo(200);

    pg.restart();
    Await.until("connected, schema created", () -> fleet.hasRoute(h));
    assertThat(tables()).containsExactly("ncro_negatives", "ncro_routes", "ncro_schema");
    assertThat(PostgresFleet.text(n.get("/status").body())).contains("\"state\":\"up\"");
  }

  @Test
  void aPasswordInTheUrlIsAConfigErrorThatDoesNotQuoteIt() {
    String yaml =
        "cache:\n  db_path: \"" + dir.resolve("x.db") + "\"\n  store: postgresql\n  postgresql:\n"
            + "    url: \"postgresql://ncro:hunter2@127.0.0.1:" + pg.port() + "/ncro\"\n";
    assertThatThrownBy(() -> Ncro.start(ConfigLoader.load(yaml, "bad.yaml", Map.of())))
        .hasMessageContaining("cache.postgresql.url")
        .hasMessageContaining("password_file")
        .satisfies(e -> assertThat(e.getMessage()).doesNotContain("hunter2"));
  }
}

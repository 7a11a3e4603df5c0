package dev.ncro.config;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * {@code cache.max_concurrent_races}, {@code max_inflight}, {@code warm_connections}, {@code
 * server.max_hops}, {@code server.want_mass_query}.
 */
class LimitsConfigTest {
  @Test
  void defaults() throws Exception {
    Config c = ConfigLoader.load((Path) null, Map.of());
    assertThat(c.cache().maxConcurrentRaces()).isEqualTo(64);
    assertThat(c.upstreams().get(0).maxInflight()).isEqualTo(16);
    assertThat(c.upstreams().get(0).warmConnections())
        .isEqualTo(UpstreamConfig.DEFAULT_WARM_CONNECTIONS);
    assertThat(c.server().maxHops()).isEqualTo(1);
    assertThat(c.server().wantMassQuery()).isTrue();
  }

  @Test
  void setInTheFile() throws Exception {
    Config c = YamlConfigs.load("""
        server:
          max_hops: 3
          want_mass_query: false
        upstreams:
          - url: "http://a.example"
            max_inflight: 4
          - url: "http://b.example"
            warm_connections: 0
          - url: "http://c.example"
            max_inflight: 2
          - url: "http://d.example"
            max_inflight: 32
            warm_connections: 32
        cache:
          max_concurrent_races: 500
        """);
    assertThat(c.upstreams().get(1).warmConnections()).isZero();
    assertThat(c.upstreams().get(2).warmConnections())
        .as("the default, capped at max_inflight")
        .isEqualTo(Math.min(UpstreamConfig.DEFAULT_WARM_CONNECTIONS, 2));
    assertThat(c.upstreams().get(3).warmConnections()).isEqualTo(32);
    assertThat(c.server().maxHops()).isEqualTo(3);
    assertThat(c.server().wantMassQuery()).isFalse();
    assertThat(c.upstreams().get(0).maxInflight()).isEqualTo(4);
    assertThat(c.upstreams().get(1).maxInflight()).isEqualTo(16);
    assertThat(c.cache().maxConcurrentRaces()).isEqualTo(500);
  }

  @Test
  void badValuesNameTheField() {
    assertThat(YamlConfigs.problems("""
        server:
          max_hops: 0
          want_mass_query: "yes"
        upstreams:
          - url: "http://a.example"
            max_inflight: 0
          - url: "http://b.example"
            max_inflight: many
          - url: "http://c.example"
            max_inflight: 4
            warm_connections: 5
          - url: "http://d.example"
            warm_connections: -1
        cache:
          max_concurrent_races: -1
        """))
        .containsExactlyInAnyOrder(
            "server.max_hops: 0 is out of range 1..16",
            "server.want_mass_query: expected true or false, got string yes",
            "upstreams[0].max_inflight: 0 is out of range 1..10000",
            "upstreams[1].max_inflight: expected an integer, got string many",
            "upstreams[2].warm_connections: must be at most max_inflight (4): more would never be"
                + " used at once",
            "upstreams[3].warm_connections: -1 is out of range 0..10000",
            "cache.max_concurrent_races: -1 is out of range 1..100000");
  }
}

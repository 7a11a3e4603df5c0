package dev.ncro;

import dev.ncro.cli.Cli;
import dev.ncro.cli.LogSetup;
import dev.ncro.config.Config;
import dev.ncro.config.ConfigException;
import dev.ncro.config.ConfigLoader;
import dev.ncro.config.DefaultPaths;
import dev.ncro.mesh.NodeIdentity;
import dev.ncro.route.RouteStoreException;
import dev.ncro.systemd.Systemd;
import java.io.IOException;
import java.io.PrintStream;
import java.io.PrintWriter;
import java.util.Map;
import org.apache.commons.cli.ParseException;

/** Entry point: parses the command line, loads the config and runs a {@link Ncro} until signalled. */
public final class Main {
  private Main() {}

  public static void main(String[] args) {
    nettyDefaults();
    System.exit(run(args, System.getenv(), System.out, System.err));
  }

  /**
   * Netty's settings that differ from its own defaults, before any Netty class loads; a {@code -D}
   * on the command line wins. {@code io.netty.jfr.enabled=false}: Netty 4.2 registers JFR events
   * for its buffer allocations at start, about 0.14 s of a 1.3 s start on two cores (class loading
   * and annotation proxies no archive holds; docs/benchmarks.md, "Thirteenth session"), for events
   * recorded only by a JFR recording that asks for them.
   */
  static void nettyDefaults() {
    if (System.getProperty("io.netty.jfr.enabled") == null) {
      System.setProperty("io.netty.jfr.enabled", "false");
    }
  }

  /** Runs ncro; returns the process exit code. Blocks until shutdown when serving. */
  static int run(String[] args, Map<String, String> env, PrintStream out, PrintStream err) {
    Cli cli;
    try {
      cli = Cli.parse(args);
    } catch (ParseException e) {
      err.println("ncro: " + e.getMessage());
      Cli.printHelp(new PrintWriter(err, true), DefaultPaths.describeRouteDb(env));
      return 2;
    }
    if (cli.request() == Cli.Request.HELP) {
      Cli.printHelp(new PrintWriter(out, true), DefaultPaths.describeRouteDb(env));
      return 0;
    }
    if (cli.request() == Cli.Request.VERSION) {
      out.println("ncro " + Cli.version());
      return 0;
    }
    if (cli.generateMeshKey() != null) {
      try {
        out.println(NodeIdentity.loadOrCreate(cli.generateMeshKey()).publicKeyHex());
        return 0;
      } catch (IOException e) {
        err.println("ncro: mesh key: " + e.getMessage());
        return 1;
      }
    }
    if (cli.skipSecretFiles() && !cli.check()) {
      err.println(
          "ncro: --skip-secret-files is only for --check: a serving ncro needs its credentials");
      return 2;
    }
    Config config;
    try {
      config = ConfigLoader.load(
          cli.config(),
          env,
          cli.skipSecretFiles() ? ConfigLoader.SecretFiles.SKIP : ConfigLoader.SecretFiles.READ);
    } catch (ConfigException e) {
      e.problems().forEach(p -> err.println("ncro: config: " + p));
      return 1;
    }
    if (cli.check()) {
      var access = config.server().access();
      Object listen = config.server().listen() == null
          ? "(socket activation only)"
          : config.server().listen();
      out.println("config ok: listen " + listen + ", " + config.upstreams().size()
          + " upstream(s), db " + config.cache().dbPath() + ", allow "
          + (access.allow().isEmpty() ? "anyone" : access.allow()) + ", "
          + access.clients().size() + " client credential(s)"
          + (config.fallbackCache().enabled()
              ? ", fallback cache " + config.fallbackCache().upstream().url()
              : ""));
      if (config.discovery().enabled()) {
        out.println("discovery: mDNS " + config.discovery().serviceType() + ", priority "
            + config.discovery().priority() + ", "
            + config.discovery().publicKeys().size() + " trusted key(s)");
      }
      if (!config.proxy().isEmpty()) {
        out.println("proxy: " + config.proxy().describe());
      }
      return 0;
    }
    LogSetup.apply(config.logging());
    Ncro ncro;
    try {
      ncro = Ncro.start(
          config, Systemd.fromEnvironment(env, ProcessHandle.current().pid()), env);
    } catch (RouteStoreException e) {
      err.println("ncro: cache.db_path: " + e.getMessage());
      return 1;
    } catch (Exception e) {
      err.println("ncro: cannot start: " + e.getMessage());
      return 1;
    }
    Runtime.getRuntime()
        .addShutdownHook(Thread.ofPlatform().name("ncro-shutdown").unstarted(ncro::stop));
    ncro.awaitStop();
    return 0;
  }
}

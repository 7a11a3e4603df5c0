package dev.ncro.cli;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Path;
import java.util.Properties;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * ncro's command line. Both {@code -config} (the original's Go-flag spelling) and
 * {@code --config} are accepted.
 */
@Command(
    name = "ncro",
    mixinStandardHelpOptions = true,
    versionProvider = Cli.Version.class,
    description =
        "Nix Cache Route Optimizer: a proxy that routes Nix substitution to the fastest binary cache.",
    sortOptions = false)
public final class Cli {
  @Option(
      names = {"-config", "--config", "-c"},
      paramLabel = "FILE",
      description = "YAML config file overriding the embedded default.")
  Path config;

  @Option(
      names = "--check",
      description = "Validate the configuration, print problems one per line, and exit.")
  boolean check;

  @Option(
      names = "--skip-secret-files",
      description =
          "With --check: do not read the credential files the config names (password_file, "
              + "bearer_token_file, netrc_file, ca_file), which systemd delivers only at start; check everything else.")
  boolean skipSecretFiles;

  @Option(
      names = "--generate-mesh-key",
      paramLabel = "PATH",
      description =
          "Create (or read) the mesh key file at PATH, print its public key in hex, and exit.")
  Path generateMeshKey;

  public Path generateMeshKey() {
    return generateMeshKey;
  }

  public Path config() {
    return config;
  }

  public boolean check() {
    return check;
  }

  public boolean skipSecretFiles() {
    return skipSecretFiles;
  }

  /** The version baked in at build time. */
  public static String version() {
    try (InputStream in = Cli.class.getResourceAsStream("/ncro-version.properties")) {
      Properties p = new Properties();
      if (in != null) {
        p.load(in);
      }
      return p.getProperty("version", "unknown");
    } catch (IOException e) {
      return "unknown";
    }
  }

  static final class Version implements CommandLine.IVersionProvider {
    @Override
    public String[] getVersion() {
      return new String[] {"ncro " + version()};
    }
  }
}

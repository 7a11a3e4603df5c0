package dev.ncro.cli;

import java.io.IOException;
import java.io.InputStream;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.Properties;
import org.apache.commons.cli.CommandLine;
import org.apache.commons.cli.DefaultParser;
import org.apache.commons.cli.HelpFormatter;
import org.apache.commons.cli.Option;
import org.apache.commons.cli.Options;
import org.apache.commons.cli.ParseException;

/**
 * ncro's command line. Both {@code -config} (the original's Go-flag spelling) and
 * {@code --config} are accepted.
 *
 * <p>On Apache Commons CLI rather than picocli: picocli's classes are compiled for Java 5, which
 * the JVM's class-data archives cannot hold, so its 190 classes were loaded, verified and run
 * from the jar at every start: 0.27 s of a 1.2 s start with the archive (class-init timeline,
 * docs/decisions.md §10). Commons CLI's are archived with the rest.
 */
public record Cli(
    Path config, boolean check, boolean skipSecretFiles, Path generateMeshKey, Request request) {

  /** What the command line asks for besides running. */
  public enum Request {
    RUN,
    HELP,
    VERSION
  }

  private static final String DESCRIPTION =
      "Nix Cache Route Optimizer: a proxy that routes Nix substitution to the fastest binary cache.";

  private static Options options() {
    return new Options()
        .addOption(Option.builder("c")
            .longOpt("config")
            .hasArg()
            .argName("FILE")
            .desc("YAML config file overriding the embedded default (-config FILE works too).")
            .build())
        .addOption(Option.builder()
            .longOpt("check")
            .desc("Validate the configuration, print problems one per line, and exit.")
            .build())
        .addOption(Option.builder()
            .longOpt("skip-secret-files")
            .desc("With --check: do not read the credential files the config names (password_file, "
                + "bearer_token_file, netrc_file, ca_file), which systemd delivers only at start; "
                + "check everything else.")
            .build())
        .addOption(Option.builder()
            .longOpt("generate-mesh-key")
            .hasArg()
            .argName("PATH")
            .desc(
                "Create (or read) the mesh key file at PATH, print its public key in hex, and exit.")
            .build())
        .addOption(
            Option.builder("h").longOpt("help").desc("Show this help and exit.").build())
        .addOption(Option.builder("V")
            .longOpt("version")
            .desc("Print the version and exit.")
            .build());
  }

  /**
   * Parses {@code args}. Long options take one dash or two ({@code -config}, {@code --config}),
   * and only whole names: {@code --conf} is an error, not {@code --config}.
   *
   * @throws ParseException an unknown option, a missing value, or a stray argument
   */
  public static Cli parse(String[] args) throws ParseException {
    CommandLine cmd =
        DefaultParser.builder().setAllowPartialMatching(false).build().parse(options(), args);
    if (!cmd.getArgList().isEmpty()) {
      throw new ParseException("Unexpected argument: " + cmd.getArgList().getFirst());
    }
    Request request = cmd.hasOption("help")
        ? Request.HELP
        : cmd.hasOption("version") ? Request.VERSION : Request.RUN;
    return new Cli(
        path(cmd, "config"),
        cmd.hasOption("check"),
        cmd.hasOption("skip-secret-files"),
        path(cmd, "generate-mesh-key"),
        request);
  }

  private static Path path(CommandLine cmd, String option) {
    String v = cmd.getOptionValue(option);
    return v == null ? null : Path.of(v);
  }

  /** The usage text, with {@code footer} after the options. */
  public static void printHelp(PrintWriter out, String footer) {
    HelpFormatter help = HelpFormatter.builder().setShowDeprecated(false).get();
    help.setOptionComparator(null); // as declared
    help.printHelp(out, 100, "ncro", DESCRIPTION, options(), 2, 3, "\n" + footer, true);
    out.flush();
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
}

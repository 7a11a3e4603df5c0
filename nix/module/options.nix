# The options of one ncro instance: `services.ncro.*` for the default one and each
# `services.ncro.instances.<name>` (see nix/module.nix). `icfg` is that instance's own config.
{
  lib,
  pkgs,
  h,
  settingsFormat,
  defaults,
  instance,
  renderConfig,
}:

let
  inherit (lib)
    literalExpression
    literalMD
    mkEnableOption
    mkOption
    types
    ;
  inherit (h)
    unitName
    optionPath
    stateDirOf
    credentialDir
    hostPortType
    ;
in
  name: icfg:
  let
    stateDir = stateDirOf name;
    unit = unitName name;
    opt = optionPath name;
    filterType = types.submodule {
      options = {
        action = mkOption {
          type = types.enum [
            "allow"
            "deny"
          ];
          description = "`deny` wins over any `allow`; with any `allow` rule, a path must match one.";
        };
        field = mkOption {
          type = types.enum [
            "name"
            "store_path"
            "reference"
            "deriver"
          ];
          description = ''
            What the pattern is matched against: `name` (after the hash: `hello-2.12`), the full
            `store_path`, each full `reference`, or the full `deriver` path.
          '';
        };
        pattern = mkOption {
          type = types.strMatching "[A-Za-z0-9+._=/*-]+";
          example = "mycorp-*";
          description = "A glob whose only wildcard is `*`, matched against the whole value.";
        };
      };
    };
    filtersOption = mkOption {
      type = types.nullOr (types.listOf filterType);
      default = null;
      example = literalExpression ''[ { action = "allow"; field = "name"; pattern = "mycorp-*"; } ]'';
      description = ''
        Path filters: which store paths this cache may serve, judged on the narinfo it returns
        (see ncro's README, "Path filters"). `null` or `[ ]`: every path.
      '';
    };
    upstreamType = types.submodule {
      freeformType = settingsFormat.type;
      options = {
        url = mkOption {
          type = types.str;
          example = "https://nix-community.cachix.org";
          description = "Base URL of the binary cache (http or https; a base path is kept).";
        };
        priority = mkOption {
          type = types.ints.unsigned;
          default = 10;
          description = ''
            Lower is preferred when two upstreams' latencies are within 10 % of each other.
          '';
        };
        public_key = mkOption {
          type = types.nullOr types.str;
          default = null;
          example = "nix-community.cachix.org-1:mB9FSh9qf2dCimDSUo8Zy7bkq5CX+/rkCWyvRCYg3Fs=";
          description = ''
            The cache's signing key (`name:base64`). When set, ncro accepts a narinfo from this
            upstream only if its signature verifies. Several keys: use the freeform
            `public_keys = [ ... ]` instead (or as well).
          '';
        };
        password_file = mkOption {
          type = types.nullOr types.str;
          default = null;
          example = "/run/secrets/private-cache-password";
          description = ''
            A file holding the password for HTTP basic authentication (with `username`). A path
            outside the Nix store is handed to the service with `LoadCredential` (as
            `upstream<index>-password`); ncro is given its path under `${credentialDir name}/`.
          '';
        };
        bearer_token_file = mkOption {
          type = types.nullOr types.str;
          default = null;
          description = "A file holding a bearer token; delivered like `password_file`.";
        };
        ca_file = mkOption {
          type = types.nullOr types.str;
          default = null;
          description = ''
            PEM certificate(s) to trust for this upstream's TLS. A store path is used as it is;
            another path is delivered with `LoadCredential`.
          '';
        };
        filters = filtersOption;
      };
    };
    fallbackType = types.submodule {
      freeformType = settingsFormat.type;
      options = {
        enabled = mkOption {
          type = types.bool;
          default = true;
          description = "Use the fallback cache (set `false` to keep its settings but not use it).";
        };
        url = mkOption {
          type = types.str;
          example = "https://archive.example.org";
          description = "Base URL of the fallback cache (http, https or s3).";
        };
        public_key = mkOption {
          type = types.nullOr types.str;
          default = null;
          description = "Its signing key (`name:base64`); several: the freeform `public_keys`.";
        };
        password_file = mkOption {
          type = types.nullOr types.str;
          default = null;
          description = ''
            Password for HTTP basic authentication (with `username`); a path outside the Nix store
            is delivered with `LoadCredential` (as `fallback-password`).
          '';
        };
        bearer_token_file = mkOption {
          type = types.nullOr types.str;
          default = null;
          description = "A bearer token file; delivered like `password_file` (as `fallback-token`).";
        };
        ca_file = mkOption {
          type = types.nullOr types.str;
          default = null;
          description = "PEM certificate(s) to trust for its TLS; delivered like an upstream's `ca_file`.";
        };
        filters = filtersOption;
      };
    };
  in
  {
    settings = mkOption {
      description = ''
        ncro's configuration, rendered to YAML with `pkgs.formats.yaml` and passed with
        `--config`. Any key of ncro's configuration file may be set (see the "Configuration"
        section of ncro's README; unknown keys are errors, caught at build time when
        {option}`${opt}.checkConfig` is on); the common ones are typed options below.
        Durations are Go-style strings such as `"30s"` or `"1h"`. A list (such as `upstreams`)
        replaces the default list. Every `*_file` setting naming a path outside the Nix store
        is delivered through `LoadCredential`.
      '';
      default = { };
      example = literalExpression ''
        {
          upstreams = [
            { url = "https://cache.nixos.org"; priority = 10;
              public_key = "cache.nixos.org-1:6NCHdD59X431o0gWypbMrAURkbJ16ZPMQFGspcDShjY="; }
            { url = "https://nix-community.cachix.org"; priority = 20;
              public_key = "nix-community.cachix.org-1:mB9FSh9qf2dCimDSUo8Zy7bkq5CX+/rkCWyvRCYg3Fs="; }
          ];
          cache.negative_ttl = "5m";
          timeouts.first_byte = "5s";
        }
      '';
      type = types.submodule {
        freeformType = settingsFormat.type;
        options = {
          server.listen = mkOption {
            type = hostPortType;
            default = defaults.server.listen;
            example = "127.0.0.1:8080";
            description = ''
              `host:port` to serve on (port 1-65535); `":8080"` is every interface, `"[::1]:8080"`
              IPv6 loopback. A port below 1024 gives the service `CAP_NET_BIND_SERVICE`. With
              {option}`${opt}.socketActivation.enable`, the socket unit binds this address and
              ncro is given `listen: ""`. Each instance needs its own port.
            '';
          };

          upstreams = mkOption {
            type = types.listOf upstreamType;
            default = defaults.upstreams;
            defaultText = literalExpression ''
              [ { url = "https://cache.nixos.org"; priority = 10;
                  public_key = "cache.nixos.org-1:6NCHdD59X431o0gWypbMrAURkbJ16ZPMQFGspcDShjY="; } ]
            '';
            description = "The binary caches ncro races. Setting this replaces the default list.";
          };

          fallback_cache = mkOption {
            type = types.nullOr fallbackType;
            default = null;
            example = literalExpression ''
              {
                url = "https://archive.example.org";
                public_key = "archive.example.org-1:…";
                bearer_token_file = "/run/secrets/archive-token";
              }
            '';
            description = ''
              A cache asked only when no upstream has a path (or some could not answer); never
              raced. Off (`null`) by default. Secrets as for an upstream: `*_file` outside the
              store, delivered with `LoadCredential`.
            '';
          };

          cache.db_path = mkOption {
            type = types.str;
            default = "${stateDir}/routes.db";
            description = ''
              The SQLite route database. It must be under `${stateDir}/` (the unit's
              `StateDirectory`): the hardened service can write nowhere else.
            '';
          };

          cache.store = mkOption {
            type = types.nullOr (
              types.enum [
                "sqlite"
                "postgresql"
              ]
            );
            default = null;
            example = "postgresql";
            description = ''
              Where routes persist: `sqlite` (ncro's default when null: `cache.db_path`, this node's
              alone) or `postgresql` (one database shared by several nodes, set in
              `cache.postgresql`; see the README, "Fleet").
            '';
          };

          cache.postgresql = mkOption {
            type = types.nullOr (
              types.submodule {
                freeformType = settingsFormat.type;
                options = {
                  url = mkOption {
                    type = types.str;
                    example = "postgresql://ncro@db.internal:5432/ncro?sslmode=verify-full";
                    description = ''
                      A libpq connection URI (or `jdbc:postgresql://...`), without a password:
                      the module refuses one, it would be written to the Nix store.
                    '';
                  };
                  password_file = mkOption {
                    type = types.nullOr types.str;
                    default = null;
                    example = "/run/secrets/ncro-db-password";
                    description = ''
                      A file holding the database password. A path outside the Nix store is handed
                      to the service with `LoadCredential` (as `postgresql-password`); ncro is
                      given its path under `${credentialDir name}/`.
                    '';
                  };
                  pool_size = mkOption {
                    type = types.nullOr (types.ints.between 1 1000);
                    default = null;
                    description = "Connections this node keeps to the database (ncro's default when null: 8).";
                  };
                };
              }
            );
            default = null;
            description = "The shared route database, with `cache.store = \"postgresql\"`.";
          };

          cache.ttl = mkOption {
            type = types.str;
            default = defaults.cache.ttl;
            example = "30m";
            description = "How long a routing decision is trusted (Go duration).";
          };

          logging.level = mkOption {
            type = types.enum [
              "debug"
              "info"
              "warn"
              "error"
            ];
            default = defaults.logging.level;
            description = "Log level (logs go to the journal through stderr).";
          };

          logging.format = mkOption {
            type = types.enum [
              "json"
              "text"
            ];
            default = defaults.logging.format;
            description = "`json`: one object per line; `text`: `time level logger message key=value`.";
          };

          mesh.enabled = mkOption {
            type = types.bool;
            default = defaults.mesh.enabled;
            description = "Gossip route decisions with other ncro nodes over UDP (`mesh.peers`).";
          };

          mesh.bind_addr = mkOption {
            type = hostPortType;
            default = defaults.mesh.bind_addr;
            description = ''
              UDP `host:port` for mesh gossip (port 1-65535; below 1024 the service gets
              `CAP_NET_BIND_SERVICE`). Each instance in mesh mode needs its own port.
            '';
          };

          mesh.private_key = mkOption {
            type = types.str;
            default = "${stateDir}/node.key";
            description = ''
              The node's ed25519 key file. Under `${stateDir}/` it is created (mode 0600) at first
              start when missing, so the node keeps its identity. Elsewhere (outside the Nix
              store) it must exist and is delivered with `LoadCredential`. `""` means a new
              identity at every start. The public key is logged at start
              (`mesh node identity`).
            '';
          };
        };
      };
    };

    socketActivation.enable = mkEnableOption ''
      socket activation: a `${unit}.socket` unit binds {option}`${opt}.settings.server.listen`
      at boot and starts the service at the first connection, handing it the socket. This
      host's Nix can then connect before ncro has finished starting (the connection waits in
      the socket's backlog)'';

    allow = mkOption {
      type = types.nullOr (types.listOf types.str);
      default = null;
      example = [
        "127.0.0.1/32"
        "::1/128"
        "10.0.0.0/8"
      ];
      description = ''
        Client addresses (CIDR) allowed to use ncro; rendered as `server.allow`. `null` leaves
        ncro's own default.
      '';
    };

    netrcFile = mkOption {
      type = types.nullOr types.str;
      default = null;
      example = "/run/secrets/ncro-netrc";
      description = ''
        A netrc file with credentials for the upstreams (outside the Nix store). Delivered with
        `LoadCredential` and rendered as `netrc_file = "${credentialDir name}/netrc"`.
      '';
    };

    awsCredentialsFile = mkOption {
      type = types.nullOr types.str;
      default = null;
      example = "/run/secrets/ncro-aws-credentials";
      description = ''
        An AWS shared credentials file (`[default]` with `aws_access_key_id` and
        `aws_secret_access_key`) for `s3://` upstreams. Delivered with `LoadCredential`; the
        service gets `AWS_SHARED_CREDENTIALS_FILE` pointing at it. For keys in environment
        variables use {option}`${opt}.environmentFile` instead.
      '';
    };

    awsConfigFile = mkOption {
      type = types.nullOr types.str;
      default = null;
      example = "/run/secrets/ncro-aws-config";
      description = ''
        An AWS config file (profiles with `region`, `role_arn`, `credential_process`...) for
        `s3://` upstreams. Delivered with `LoadCredential`, like the credentials file (a profile
        may name a command or a role it is not for the world to read); the service gets
        `AWS_CONFIG_FILE` pointing at it.
      '';
    };

    awsProfile = mkOption {
      type = types.nullOr types.str;
      default = null;
      example = "nix-cache";
      description = ''
        The AWS profile used by `s3://` upstreams that name none with `profile=` in their URL
        (the service gets `AWS_PROFILE`). A `profile=` parameter still wins, as in Nix.
      '';
    };

    environmentFile = mkOption {
      type = types.nullOr types.str;
      default = null;
      example = "/run/secrets/ncro.env";
      description = ''
        A file of `NAME=value` lines read by systemd (as root, before the service starts) into
        the service's environment, e.g. `AWS_ACCESS_KEY_ID` and `AWS_SECRET_ACCESS_KEY`. Not
        copied to the Nix store.
      '';
    };

    credentials = mkOption {
      type = types.attrsOf types.str;
      default = { };
      example = {
        "extra-ca" = "/etc/ssl/private-ca.pem";
      };
      description = ''
        Further files handed to the service with `LoadCredential` (`name = host path`); ncro
        reads them at `${credentialDir name}/<name>` (refer to that path in `settings`).
      '';
    };

    restartOnCredentialChange = mkOption {
      type = types.bool;
      default = true;
      description = ''
        Restart the service when a file it gets through `LoadCredential` changes on the host
        (a rotated token or password, a new netrc or AWS credentials file). systemd copies these
        files when the service starts, so ncro's own watching of its credential files sees only
        that copy; a `systemd.path` unit watching the host paths (`PathChanged=`) runs
        `systemctl try-restart` instead. With socket activation, requests made during the restart
        wait in the socket.
      '';
    };

    openFirewall = mkOption {
      type = types.bool;
      default = false;
      description = ''
        Open the TCP port of {option}`${opt}.settings.server.listen` and, when mesh mode is on,
        the UDP port of {option}`${opt}.settings.mesh.bind_addr`.
      '';
    };

    checkConfig = mkOption {
      type = types.bool;
      default = pkgs.stdenv.buildPlatform.canExecute pkgs.stdenv.hostPlatform;
      defaultText = literalExpression "pkgs.stdenv.buildPlatform.canExecute pkgs.stdenv.hostPlatform";
      description = ''
        Validate the rendered configuration with `ncro --check` when the system is built. Off
        by default when cross-compiling (the check runs the host's ncro on the build machine).
      '';
    };

    jvmOptions = mkOption {
      type = types.listOf types.str;
      default = [
        "-Xmx256m"
        "-XX:+UseSerialGC"
        "-XX:+ExitOnOutOfMemoryError"
        "-XX:TrimNativeHeapInterval=5000"
        "-XX:+AutoCreateSharedArchive"
        "-XX:SharedArchiveFile=${stateDir}/ncro.jsa"
        "-XX:+VerifySharedSpaces"
        "-Xlog:cds=off"
        "-Xlog:cds+dynamic=off"
      ];
      example = [
        "-Xmx512m"
        "-XX:+UseSerialGC"
        "-XX:+ExitOnOutOfMemoryError"
      ];
      description = ''
        JVM options, one per element, each passed to `java` as its own argument of the unit's
        `ExecStart` (quoted and escaped for systemd: spaces, `%`, `$` and globs reach the JVM
        unchanged). 256 MiB of heap holds the in-memory route cache (up to 20 000 routes with
        their ~1 KiB narinfo bodies) several times over; ncro idles at 110 to 140 MiB.
        Without `-Xmx` the JVM would size its heap from the host's RAM, not from ncro's needs.
        An out-of-memory error exits, and systemd restarts the service. Every 5 s the JVM returns
        the C heap's free pages to the kernel (`TrimNativeHeapInterval`: 18 to 31 MiB less RSS
        under load, docs/benchmarks.md). The class-data-sharing
        archive in the state directory (made by the first start, remade by the JVM when the
        package changes) cuts start-up from about 1.1 s to 0.7 s and idle RSS by 34 MiB
        (docs/benchmarks.md §5). With `-XX:+VerifySharedSpaces` the JVM checks the archive's CRC
        and starts without a damaged one instead of crashing. The options that load Netty's and
        SQLite's native libraries from the package (not copied to /tmp at every start) come
        before these, so an option here that sets them wins. The JDK 25 ahead-of-time cache,
        which starts faster and which bin/ncro uses on JDK 25, needs a JDK this package does not
        run on yet (nixos-25.05 has none): docs/decisions.md §10.
      '';
    };

    configFile = mkOption {
      type = types.path;
      readOnly = true;
      default = renderConfig (instance name icfg);
      defaultText = literalMD "the rendered {option}`${opt}.settings`";
      description = "The YAML file ncro is started with (read-only; for inspection and tests).";
    };

    renderedSettings = mkOption {
      type = types.attrs;
      readOnly = true;
      internal = true;
      default = (instance name icfg).rendered;
      description = "The settings as rendered to YAML: credential paths rewritten, nulls dropped (for tests).";
    };
  }

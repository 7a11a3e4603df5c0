# NixOS module for ncro: `services.ncro`. Exported by flake.nix as nixosModules.default and
# nixosModules.ncro; can also be imported directly (imports = [ ./nix/module.nix ]).
{
  config,
  lib,
  pkgs,
  ...
}:

let
  cfg = config.services.ncro;
  settingsFormat = pkgs.formats.yaml { };
  defaults = import ./settings-defaults.nix;

  inherit (lib)
    literalExpression
    mkEnableOption
    mkIf
    mkMerge
    mkOption
    types
    ;

  stateDir = "/var/lib/ncro";

  # `host:port` → its parts. The listen types below only accept strings that end in `:<digits>`.
  portOf = addr: lib.toInt (lib.last (lib.splitString ":" addr));
  hostOf = addr: lib.concatStringsSep ":" (lib.init (lib.splitString ":" addr));
  hostPortType = types.strMatching ".*:[0-9]+";

  listenPort = portOf cfg.settings.server.listen;
  meshPort = portOf cfg.settings.mesh.bind_addr;
  privilegedPort = listenPort < 1024;

  # Where this host's own Nix reaches ncro: a wildcard listen address means loopback.
  localUrl =
    let
      host = hostOf cfg.settings.server.listen;
      local =
        if host == "" || host == "0.0.0.0" then
          "127.0.0.1"
        else if host == "[::]" then
          "[::1]"
        else
          host;
    in
    "http://${local}:${toString listenPort}";

  # A null means "not set" in the typed options (e.g. an upstream's public_key), and ncro treats
  # an explicit null as an error for most fields: drop null-valued keys before rendering.
  dropNulls =
    v:
    if lib.isDerivation v then
      v
    else if builtins.isAttrs v then
      lib.mapAttrs (_: dropNulls) (lib.filterAttrs (_: x: x != null) v)
    else if builtins.isList v then
      map dropNulls v
    else
      v;

  renderedConfig = settingsFormat.generate "ncro.yaml" (dropNulls cfg.settings);

  # `ncro --check` at build time: a bad value fails `nixos-rebuild`, not the service at boot.
  checkedConfig =
    pkgs.runCommand "ncro.yaml"
      {
        nativeBuildInputs = [ cfg.package ];
        preferLocalBuild = true;
      }
      ''
        ncro --config ${renderedConfig} --check
        cp ${renderedConfig} $out
      '';

  upstreamKeys = lib.unique (
    lib.concatMap (
      u: lib.optional ((u.public_key or null) != null) u.public_key ++ (u.public_keys or [ ])
    ) cfg.settings.upstreams
  );

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
    };
  };
in
{
  options.services.ncro = {
    enable = mkEnableOption "ncro, the Nix Cache Route Optimizer (a substituter proxy racing several binary caches)";

    package = mkOption {
      type = types.package;
      default = pkgs.callPackage ./package.nix { };
      defaultText = literalExpression "pkgs.callPackage ./nix/package.nix { } (this repository's ncro)";
      description = "The ncro package to run.";
    };

    settings = mkOption {
      description = ''
        ncro's configuration, rendered to YAML with `pkgs.formats.yaml` and passed with
        `--config`. Any key of ncro's configuration file may be set (see the "Configuration"
        section of ncro's README; unknown keys are errors, caught at build time when
        {option}`services.ncro.checkConfig` is on); the common ones are typed options below.
        Durations are Go-style strings such as `"30s"` or `"1h"`. A list (such as `upstreams`)
        replaces the default list.
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
              `host:port` to serve on; `":8080"` is every interface, `"[::1]:8080"` IPv6
              loopback. A port below 1024 gives the service `CAP_NET_BIND_SERVICE`.
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

          cache.db_path = mkOption {
            type = types.str;
            default = defaults.cache.db_path;
            description = ''
              The SQLite route database. It must be under `${stateDir}/` (the unit's
              `StateDirectory`): the hardened service can write nowhere else.
            '';
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
            description = "UDP `host:port` for mesh gossip.";
          };

          mesh.private_key = mkOption {
            type = types.str;
            default = defaults.mesh.private_key;
            description = ''
              The node's ed25519 key file, created (mode 0600) at first start when missing, so
              the node keeps its identity. `""` means a new identity at every start. A path
              outside `${stateDir}/` must already exist and be readable by the service's dynamic
              user. The public key is logged at start (`mesh node identity`).
            '';
          };
        };
      };
    };

    configFile = mkOption {
      type = types.path;
      readOnly = true;
      default = if cfg.checkConfig then checkedConfig else renderedConfig;
      defaultText = literalExpression "the rendered services.ncro.settings";
      description = "The YAML file ncro is started with (read-only; for inspection and tests).";
    };

    checkConfig = mkOption {
      type = types.bool;
      default = true;
      description = ''
        Validate the rendered configuration with `ncro --check` when the system is built. Turn
        off when cross-compiling (the check runs the host's ncro on the build machine).
      '';
    };

    openFirewall = mkOption {
      type = types.bool;
      default = false;
      description = ''
        Open the TCP port of {option}`services.ncro.settings.server.listen` and, when mesh
        mode is on, the UDP port of {option}`services.ncro.settings.mesh.bind_addr`.
      '';
    };

    addUpstreamPublicKeys = mkOption {
      type = types.bool;
      default = true;
      description = ''
        Append every upstream's `public_key`/`public_keys` to
        {option}`nix.settings.trusted-public-keys`, so this host's Nix accepts the paths ncro
        serves (ncro passes the upstreams' signatures through unchanged).
      '';
    };

    nixSubstituter = {
      enable = mkEnableOption "pointing this host's own Nix at ncro ({option}`nix.settings.substituters`)";

      exclusive = mkOption {
        type = types.bool;
        default = true;
        description = ''
          Make ncro Nix's only substituter (`lib.mkForce`), which also removes NixOS's default
          `https://cache.nixos.org/` entry and any other substituter set elsewhere: list those
          caches as ncro upstreams instead. When false, ncro is put first and the others stay.
        '';
      };

      url = mkOption {
        type = types.str;
        default = localUrl;
        defaultText = literalExpression ''"http://127.0.0.1:''${port of services.ncro.settings.server.listen}"'';
        description = "The URL this host's Nix uses to reach ncro.";
      };
    };

    jvmOptions = mkOption {
      type = types.listOf types.str;
      default = [
        "-Xmx256m"
        "-XX:+UseSerialGC"
        "-XX:+ExitOnOutOfMemoryError"
        "-XX:+AutoCreateSharedArchive"
        "-XX:SharedArchiveFile=${stateDir}/ncro.jsa"
        "-Xlog:cds=off"
        "-Xlog:cds+dynamic=off"
      ];
      example = [
        "-Xmx512m"
        "-XX:+UseSerialGC"
        "-XX:+ExitOnOutOfMemoryError"
      ];
      description = ''
        JVM options (passed through `NCRO_JAVA_OPTS`, split on spaces: one option per element,
        no spaces inside). 256 MiB of heap holds the in-memory route cache (up to 20 000 routes
        with their ~1 KiB narinfo bodies) several times over; ncro idles at 110 to 140 MiB.
        Without `-Xmx` the JVM would size its heap from the host's RAM, not from ncro's needs.
        An out-of-memory error exits, and systemd restarts the service. The class-data-sharing
        archive in the state directory (made by the first start, remade by the JVM when the
        package changes) cuts start-up from about 1.1 s to 0.7 s and idle RSS by 34 MiB
        (docs/benchmarks.md §5).
      '';
    };
  };

  config = mkIf cfg.enable {
    assertions = [
      {
        assertion = lib.hasPrefix "${stateDir}/" cfg.settings.cache.db_path;
        message = "services.ncro.settings.cache.db_path must be under ${stateDir}/ (the service's StateDirectory; nothing else is writable), got \"${cfg.settings.cache.db_path}\".";
      }
      {
        assertion = cfg.settings.upstreams != [ ];
        message = "services.ncro.settings.upstreams must list at least one binary cache.";
      }
    ];

    warnings =
      lib.optional
        (
          cfg.settings.mesh.enabled
          && cfg.settings.mesh.private_key != ""
          && !(lib.hasPrefix "${stateDir}/" cfg.settings.mesh.private_key)
        )
        "services.ncro.settings.mesh.private_key (${cfg.settings.mesh.private_key}) is outside ${stateDir}/: ncro cannot create it there, so it must already exist and be readable by the service's dynamic user.";

    nix.settings = mkMerge [
      (mkIf cfg.addUpstreamPublicKeys { trusted-public-keys = upstreamKeys; })
      (mkIf cfg.nixSubstituter.enable {
        substituters =
          if cfg.nixSubstituter.exclusive then
            lib.mkForce [ cfg.nixSubstituter.url ]
          else
            lib.mkBefore [ cfg.nixSubstituter.url ];
      })
    ];

    networking.firewall = mkIf cfg.openFirewall {
      allowedTCPPorts = [ listenPort ];
      allowedUDPPorts = lib.optional cfg.settings.mesh.enabled meshPort;
    };

    systemd.services.ncro = {
      description = "ncro, the Nix Cache Route Optimizer";
      wantedBy = [ "multi-user.target" ];
      wants = [ "network-online.target" ];
      after = [ "network-online.target" ];

      environment.NCRO_JAVA_OPTS = lib.concatStringsSep " " cfg.jvmOptions;

      serviceConfig = {
        Type = "exec";
        ExecStart = "${lib.getExe cfg.package} --config ${cfg.configFile}";
        Restart = "on-failure";
        RestartSec = "5s";
        # On SIGTERM ncro drains for up to 5 s. A JVM stopped by SIGTERM may report exit status
        # 143 (128 + 15) once its shutdown hooks ran: a clean stop, not a failure.
        SuccessExitStatus = "143";
        TimeoutStopSec = "30s";
        LimitNOFILE = 65536;

        DynamicUser = true;
        StateDirectory = "ncro";
        StateDirectoryMode = "0700";
        WorkingDirectory = stateDir;
        UMask = "0077";

        # Hardening. The JVM and its bundled natives (netty epoll, sqlite-jdbc, unpacked to the
        # private /tmp) need nothing beyond this.
        CapabilityBoundingSet = if privilegedPort then "CAP_NET_BIND_SERVICE" else "";
        AmbientCapabilities = lib.optionals privilegedPort [ "CAP_NET_BIND_SERVICE" ];
        PrivateUsers = !privilegedPort;
        NoNewPrivileges = true;
        ProtectSystem = "strict";
        ProtectHome = true;
        PrivateTmp = true;
        PrivateDevices = true;
        DevicePolicy = "closed";
        ProtectKernelTunables = true;
        ProtectKernelModules = true;
        ProtectKernelLogs = true;
        ProtectControlGroups = true;
        ProtectClock = true;
        ProtectHostname = true;
        ProtectProc = "invisible";
        RestrictAddressFamilies = [
          "AF_INET"
          "AF_INET6"
          "AF_UNIX"
        ];
        RestrictNamespaces = true;
        RestrictRealtime = true;
        RestrictSUIDSGID = true;
        LockPersonality = true;
        RemoveIPC = true;
        SystemCallArchitectures = "native";
        SystemCallFilter = [
          "@system-service"
          "~@privileged"
        ];
        SystemCallErrorNumber = "EPERM";
        # Not enabled: HotSpot needs memory that is writable and executable (JIT code cache, and
        # the template interpreter generated at start). Under systemd's filter the JVM dies at
        # once: "Failed to mark memory page as executable" (checked, see docs/install.md).
        MemoryDenyWriteExecute = false;
      };
    };
  };
}

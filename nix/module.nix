# NixOS module for ncro: `services.ncro` (the default instance, unit ncro.service, state in
# /var/lib/ncro) and `services.ncro.instances.<name>` (unit ncro-<name>.service, state in
# /var/lib/ncro-<name>). Exported by flake.nix as nixosModules.default and nixosModules.ncro; can
# also be imported directly (imports = [ ./nix/module.nix ]).
#
# Secrets (upstream passwords and tokens, client credentials, the netrc file, AWS credentials, a
# mesh key kept elsewhere) never enter the Nix store: the settings name host paths, and the module
# hands each file to the service with systemd's LoadCredential, rewriting the setting to the path
# under $CREDENTIALS_DIRECTORY (/run/credentials/<unit>/), the only place the dynamic user can
# read it.
{
  config,
  lib,
  pkgs,
  ...
}:

let
  top = config.services.ncro;
  settingsFormat = pkgs.formats.yaml { };
  defaults = import ./settings-defaults.nix;

  inherit (lib)
    literalExpression
    literalMD
    mkEnableOption
    mkIf
    mkMerge
    mkOption
    types
    ;

  # "" is the default instance (services.ncro.*), anything else services.ncro.instances.<name>.
  unitName = name: if name == "" then "ncro" else "ncro-${name}";
  optionPath = name: if name == "" then "services.ncro" else "services.ncro.instances.${name}";
  stateDirOf = name: "/var/lib/${unitName name}";
  credentialDir = name: "/run/credentials/${unitName name}.service";

  # `host:port` → its parts. The listen types below only accept strings that end in `:<digits>`.
  portOf = addr: lib.toInt (lib.last (lib.splitString ":" addr));
  hostOf = addr: lib.concatStringsSep ":" (lib.init (lib.splitString ":" addr));
  hostPortType = types.strMatching ".*:[0-9]+";
  validPort = p: p >= 1 && p <= 65535;

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

  # One argument of a systemd command line (systemd.service(5), "Command lines"): quoted when it
  # holds anything but plain characters, with `%` and `$` doubled so systemd expands nothing.
  escapeSystemdArg =
    arg:
    if builtins.match "[A-Za-z0-9_./:=+@,-]+" arg != null then
      arg
    else
      "\"${
        lib.replaceStrings
          [ "\\" "\"" "%" "$" "\n" ]
          [ "\\\\" "\\\"" "%%" "$$" "\\n" ]
          arg
      }\"";

  inStore = path: lib.hasPrefix "${builtins.storeDir}/" path;

  # Everything derived from one instance's options: the settings as rendered, the credentials it
  # loads, and the checks on them.
  instance =
    name: icfg:
    let
      s = icfg.settings;
      stateDir = stateDirOf name;
      opt = optionPath name;

      # A `*_file` setting: a store path is used as it is (world-readable: fine for a CA, warned
      # for a secret); any other path is loaded as credential `id`.
      fileSetting =
        secret: id: where: src:
        if src == null then
          {
            value = null;
            load = [ ];
            warn = [ ];
          }
        else if inStore src then
          {
            value = src;
            load = [ ];
            warn = lib.optional secret "${opt}: ${where} (${src}) is in the Nix store, readable by every user of this host; give a path outside the store, which the service then reads through LoadCredential.";
          }
        else
          {
            value = "${credentialDir name}/${id}";
            load = [ "${id}:${src}" ];
            warn = [ ];
          };

      upstreamFiles = lib.imap0 (
        i: u:
        let
          at = "settings.upstreams.${toString i}";
          files = {
            password_file = fileSetting true "upstream${toString i}-password" "${at}.password_file" (
              u.password_file or null
            );
            bearer_token_file = fileSetting true "upstream${toString i}-token" "${at}.bearer_token_file" (
              u.bearer_token_file or null
            );
            ca_file = fileSetting false "upstream${toString i}-ca" "${at}.ca_file" (u.ca_file or null);
          };
        in
        {
          upstream = u // lib.mapAttrs (_: f: f.value) files;
          files = lib.attrValues files;
        }
      ) s.upstreams;

      clients = s.server.clients or [ ];
      clientFiles = lib.imap0 (
        i: c:
        let
          at = "settings.server.clients.${toString i}";
          files = {
            password_file = fileSetting true "client${toString i}-password" "${at}.password_file" (
              c.password_file or null
            );
            bearer_token_file = fileSetting true "client${toString i}-token" "${at}.bearer_token_file" (
              c.bearer_token_file or null
            );
          };
        in
        {
          client = c // lib.mapAttrs (_: f: f.value) files;
          files = lib.attrValues files;
        }
      ) clients;

      netrc = fileSetting true "netrc" "netrcFile" (
        if icfg.netrcFile != null then icfg.netrcFile else s.netrc_file or null
      );
      awsCredentials = fileSetting true "aws-credentials" "awsCredentialsFile" icfg.awsCredentialsFile;

      # A mesh key outside the state directory cannot be created by the dynamic user, nor read
      # safely in place: it is delivered as a credential (and must exist).
      meshKeyOutside =
        s.mesh.enabled && s.mesh.private_key != "" && !(lib.hasPrefix "${stateDir}/" s.mesh.private_key);
      meshKey =
        if meshKeyOutside then
          fileSetting true "mesh-key" "settings.mesh.private_key" s.mesh.private_key
        else
          {
            value = s.mesh.private_key;
            load = [ ];
            warn = [ ];
          };

      extraCredentials = lib.mapAttrsToList (id: src: {
        value = null;
        load = [ "${id}:${src}" ];
        warn = [ ];
      }) icfg.credentials;

      allFiles =
        lib.concatMap (u: u.files) upstreamFiles
        ++ lib.concatMap (c: c.files) clientFiles
        ++ [
          netrc
          awsCredentials
          meshKey
        ]
        ++ extraCredentials;

      listen = s.server.listen;
      listenPort = portOf listen;
      meshPort = portOf s.mesh.bind_addr;
      socketActivated = icfg.socketActivation.enable;

      rendered = dropNulls (
        s
        // {
          server =
            s.server
            // {
              # Socket activation: systemd binds the address (ncro.socket); ncro serves fd 3.
              listen = if socketActivated then "" else listen;
            }
            // lib.optionalAttrs (icfg.allow != null) { allow = icfg.allow; }
            // lib.optionalAttrs (clients != [ ]) { clients = map (c: c.client) clientFiles; };
          upstreams = map (u: u.upstream) upstreamFiles;
          mesh = s.mesh // {
            private_key = meshKey.value;
          };
        }
        // lib.optionalAttrs (netrc.value != null) { netrc_file = netrc.value; }
      );
    in
    {
      inherit
        name
        icfg
        stateDir
        listen
        listenPort
        meshPort
        socketActivated
        rendered
        ;
      unit = unitName name;
      loadCredential = lib.concatMap (f: f.load) allFiles;
      credentialWarnings = lib.concatMap (f: f.warn) allFiles;
      awsCredentialsPath = awsCredentials.value;
      # Only what ncro itself binds needs the capability: a socket unit binds as root.
      privileged = (!socketActivated && listenPort < 1024) || (s.mesh.enabled && meshPort < 1024);
      keys = lib.unique (
        lib.concatMap (
          u: lib.optional ((u.public_key or null) != null) u.public_key ++ (u.public_keys or [ ])
        ) s.upstreams
      );

      assertions = [
        {
          assertion = lib.hasPrefix "${stateDir}/" s.cache.db_path;
          message = "${opt}.settings.cache.db_path must be under ${stateDir}/ (the service's StateDirectory; nothing else is writable), got \"${s.cache.db_path}\".";
        }
        {
          assertion = s.upstreams != [ ];
          message = "${opt}.settings.upstreams must list at least one binary cache.";
        }
        {
          assertion = validPort listenPort;
          message = "${opt}.settings.server.listen: port ${toString listenPort} is outside 1-65535.";
        }
        {
          assertion = !s.mesh.enabled || validPort meshPort;
          message = "${opt}.settings.mesh.bind_addr: port ${toString meshPort} is outside 1-65535.";
        }
        {
          assertion = lib.all (u: !(u ? password) && !(u ? bearer_token)) s.upstreams;
          message = "${opt}.settings.upstreams: `password` and `bearer_token` would be written to the world-readable Nix store; use `password_file` / `bearer_token_file` (delivered through LoadCredential).";
        }
        {
          assertion = lib.all (c: !(c ? password) && !(c ? bearer_token)) clients;
          message = "${opt}.settings.server.clients: `password` and `bearer_token` would be written to the world-readable Nix store; use `password_file` / `bearer_token_file`.";
        }
        {
          assertion = !(meshKeyOutside && inStore s.mesh.private_key);
          message = "${opt}.settings.mesh.private_key is in the Nix store (${s.mesh.private_key}): the node's secret key would be readable by every user. Keep it in ${stateDir}/ (created at first start) or in a file outside the store.";
        }
      ];
    };

  # The options of one instance (`services.ncro.*` for the default one, and each
  # `services.ncro.instances.<name>`). `icfg` is that instance's own config.
  instanceOptions =
    name: icfg:
    let
      stateDir = stateDirOf name;
      unit = unitName name;
      opt = optionPath name;
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

            cache.db_path = mkOption {
              type = types.str;
              default = "${stateDir}/routes.db";
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
          JVM options, one per element, each passed to `java` as its own argument of the unit's
          `ExecStart` (quoted and escaped for systemd: spaces, `%`, `$` and globs reach the JVM
          unchanged). 256 MiB of heap holds the in-memory route cache (up to 20 000 routes with
          their ~1 KiB narinfo bodies) several times over; ncro idles at 110 to 140 MiB.
          Without `-Xmx` the JVM would size its heap from the host's RAM, not from ncro's needs.
          An out-of-memory error exits, and systemd restarts the service. The class-data-sharing
          archive in the state directory (made by the first start, remade by the JVM when the
          package changes) cuts start-up from about 1.1 s to 0.7 s and idle RSS by 34 MiB
          (docs/benchmarks.md §5).
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
    };

  # `ncro --check` at build time: a bad value fails `nixos-rebuild`, not the service at boot.
  renderConfig =
    inst:
    let
      file = settingsFormat.generate "${inst.unit}.yaml" inst.rendered;
    in
    if inst.icfg.checkConfig then
      pkgs.runCommand "${inst.unit}.yaml"
        {
          nativeBuildInputs = [ top.package ];
          preferLocalBuild = true;
        }
        ''
          ncro --config ${file} --check
          cp ${file} $out
        ''
    else
      file;

  instances =
    lib.optional top.enable (instance "" top)
    ++ lib.mapAttrsToList instance (lib.filterAttrs (_: i: i.enable) top.instances);

  # Where this host's own Nix reaches the default instance: a wildcard listen address means loopback.
  localUrl =
    let
      listen = top.settings.server.listen;
      host = hostOf listen;
      local =
        if host == "" || host == "0.0.0.0" then
          "127.0.0.1"
        else if host == "[::]" then
          "[::1]"
        else
          host;
    in
    "http://${local}:${toString (portOf listen)}";

  # `ListenStream=` of a socket unit for a `host:port` listen address (":8080" → "8080", every
  # address family). systemd takes IP addresses only: "localhost" becomes IPv4 loopback.
  listenStream =
    addr:
    let
      host = hostOf addr;
      port = toString (portOf addr);
    in
    if host == "" then
      port
    else if host == "localhost" then
      "127.0.0.1:${port}"
    else
      addr;

  serviceFor = inst: {
    description = "ncro, the Nix Cache Route Optimizer${lib.optionalString (inst.name != "") " (${inst.name})"}";
    wantedBy = lib.optional (!inst.socketActivated) "multi-user.target";
    wants = [ "network-online.target" ];
    after = [ "network-online.target" ] ++ lib.optional inst.socketActivated "${inst.unit}.socket";
    requires = lib.optional inst.socketActivated "${inst.unit}.socket";

    environment = lib.optionalAttrs (inst.awsCredentialsPath != null) {
      AWS_SHARED_CREDENTIALS_FILE = inst.awsCredentialsPath;
    };

    serviceConfig = {
      # READY=1 once the listener, the route store and the mesh socket are up; WATCHDOG=1 every
      # 30 s while the event loops answer (SystemdIT). A hung JVM is restarted after 60 s.
      Type = "notify";
      WatchdogSec = "60s";
      ExecStart = lib.concatStringsSep " " (
        map escapeSystemdArg (
          [ (lib.getExe' (top.package.jre or pkgs.jdk21_headless) "java") ]
          ++ inst.icfg.jvmOptions
          ++ [
            "-jar"
            "${top.package}/share/ncro/ncro.jar"
            "--config"
            "${inst.icfg.configFile}"
          ]
        )
      );
      LoadCredential = inst.loadCredential;
      EnvironmentFile = lib.optional (inst.icfg.environmentFile != null) inst.icfg.environmentFile;
      Restart = "on-failure";
      RestartSec = "5s";
      # On SIGTERM ncro drains for up to 5 s. A JVM stopped by SIGTERM may report exit status
      # 143 (128 + 15) once its shutdown hooks ran: a clean stop, not a failure.
      SuccessExitStatus = "143";
      TimeoutStopSec = "30s";
      LimitNOFILE = 65536;

      DynamicUser = true;
      StateDirectory = inst.unit;
      StateDirectoryMode = "0700";
      WorkingDirectory = inst.stateDir;
      UMask = "0077";

      # Hardening. The JVM and its bundled natives (netty epoll, sqlite-jdbc, unpacked to the
      # private /tmp) need nothing beyond this.
      CapabilityBoundingSet = if inst.privileged then "CAP_NET_BIND_SERVICE" else "";
      AmbientCapabilities = lib.optionals inst.privileged [ "CAP_NET_BIND_SERVICE" ];
      PrivateUsers = !inst.privileged;
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

  socketFor = inst: {
    description = "ncro's listening socket${lib.optionalString (inst.name != "") " (${inst.name})"}";
    wantedBy = [ "sockets.target" ];
    listenStreams = [ (listenStream inst.listen) ];
    socketConfig = {
      # As ncro's own listener (SO_BACKLOG 1024): connections made while it starts wait here.
      Backlog = 1024;
    };
  };
in
{
  options.services.ncro = instanceOptions "" top // {
    enable = mkEnableOption "ncro, the Nix Cache Route Optimizer (a substituter proxy racing several binary caches), as the default instance ncro.service";

    package = lib.mkPackageOption (pkgs // { ncro = pkgs.ncro or (pkgs.callPackage ./package.nix { }); }) "ncro" { };

    instances = mkOption {
      default = { };
      description = ''
        Further ncro instances, each with its own settings, port, state directory
        (`/var/lib/ncro-<name>`), `DynamicUser` unit `ncro-<name>.service` and credentials:
        for example one for the public caches and one for a private set, or a staging
        configuration. Each takes the same options as the default instance
        (`services.ncro.settings`, `.socketActivation`, `.netrcFile`, ...).
      '';
      example = literalExpression ''
        {
          private = {
            settings.server.listen = "127.0.0.1:8081";
            settings.upstreams = [ { url = "https://cache.example.org"; password_file = "/run/secrets/cache"; username = "ci"; } ];
          };
        }
      '';
      type = types.attrsOf (
        types.submodule (
          { name, config, ... }:
          {
            options = instanceOptions name config // {
              enable = mkOption {
                type = types.bool;
                default = true;
                description = "Run this instance (`ncro-${name}.service`).";
              };
            };
          }
        )
      );
    };

    addUpstreamPublicKeys = mkOption {
      type = types.bool;
      default = top.nixSubstituter.enable;
      defaultText = literalExpression "config.services.ncro.nixSubstituter.enable";
      description = ''
        Append every enabled instance's upstream `public_key`/`public_keys` to
        {option}`nix.settings.trusted-public-keys`, so this host's Nix accepts the paths ncro
        serves (ncro passes the upstreams' signatures through unchanged). Off unless this host's
        Nix uses ncro: otherwise the keys would be trusted host-wide for nothing.
      '';
    };

    nixSubstituter = {
      enable = mkEnableOption "pointing this host's own Nix at ncro ({option}`nix.settings.substituters`)";

      exclusive = mkOption {
        type = types.bool;
        default = false;
        description = ''
          When false (the default), ncro is put first in {option}`nix.settings.substituters` and
          the substituters set elsewhere (NixOS's `https://cache.nixos.org/`) stay, so this host
          still substitutes when ncro is down. When true, ncro becomes the only entry of
          `substituters` (`lib.mkForce`), which drops every other entry set in the NixOS
          configuration. It does not cover `extra-substituters`, nor a `trusted-substituters`
          entry a trusted user may ask for, nor `--option substituters ...` on the command line.
          With ncro down, escape with
          `nix build --option substituters https://cache.nixos.org ...` (as root or a trusted user).
        '';
      };

      url = mkOption {
        type = types.str;
        default = localUrl;
        defaultText = literalMD "`http://127.0.0.1:<port of services.ncro.settings.server.listen>`";
        description = "The URL this host's Nix uses to reach ncro (the default instance unless set).";
      };
    };
  };

  config = mkIf (instances != [ ]) {
    assertions =
      lib.concatMap (i: i.assertions) instances
      ++ [
        {
          assertion = lib.all (n: builtins.match "[A-Za-z0-9_-]+" n != null) (lib.attrNames top.instances);
          message = "services.ncro.instances: names may hold letters, digits, `-` and `_` only (they name units and state directories).";
        }
        {
          assertion =
            let
              ports = map (i: i.listenPort) instances;
            in
            lib.length ports == lib.length (lib.unique ports);
          message = "services.ncro: every instance needs its own settings.server.listen port, got ${
            lib.concatMapStringsSep ", " (i: "${i.unit}: ${i.listen}") instances
          }.";
        }
        {
          assertion =
            let
              ports = map (i: i.meshPort) (lib.filter (i: i.icfg.settings.mesh.enabled) instances);
            in
            lib.length ports == lib.length (lib.unique ports);
          message = "services.ncro: every instance in mesh mode needs its own settings.mesh.bind_addr port.";
        }
        {
          assertion = !top.nixSubstituter.enable || top.enable || top.nixSubstituter.url != localUrl;
          message = "services.ncro.nixSubstituter.enable points this host's Nix at the default instance, which is not enabled: enable services.ncro or set services.ncro.nixSubstituter.url.";
        }
      ];

    warnings = lib.concatMap (i: i.credentialWarnings) instances;

    nix.settings = mkMerge [
      (mkIf top.addUpstreamPublicKeys {
        trusted-public-keys = lib.unique (lib.concatMap (i: i.keys) instances);
      })
      (mkIf top.nixSubstituter.enable {
        substituters =
          if top.nixSubstituter.exclusive then
            lib.mkForce [ top.nixSubstituter.url ]
          else
            lib.mkBefore [ top.nixSubstituter.url ];
      })
    ];

    networking.firewall = {
      allowedTCPPorts = map (i: i.listenPort) (lib.filter (i: i.icfg.openFirewall) instances);
      allowedUDPPorts = map (i: i.meshPort) (
        lib.filter (i: i.icfg.openFirewall && i.icfg.settings.mesh.enabled) instances
      );
    };

    systemd.services = lib.listToAttrs (map (i: lib.nameValuePair i.unit (serviceFor i)) instances);

    systemd.sockets = lib.listToAttrs (
      map (i: lib.nameValuePair i.unit (socketFor i)) (lib.filter (i: i.socketActivated) instances)
    );
  };
}

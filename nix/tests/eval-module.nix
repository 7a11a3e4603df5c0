# Evaluates nix/module.nix with nixpkgs' real module system (lib.evalModules), without nixpkgs:
# `pkgs` is a stub (formats.yaml's real value type, fake store paths for what would be built) and
# the NixOS options the module sets are declared here with the types and merge rules NixOS gives
# them (systemd unit options concatenate lists; nix.settings.substituters gets NixOS's
# cache.nixos.org default with mkAfter). The result, per scenario of module-scenarios.nix, is
# plain JSON: the settings each instance renders, the unit files as NixOS would write them,
# nix.settings, the firewall, and the failing assertions and warnings.
#
#   nix-instantiate --eval --strict --json nix/tests/eval-module.nix \
#     --arg lib 'import /path/to/nixpkgs/lib' --argstr scenario instances
#
# PackagingIT compares each scenario with src/test/resources/packaging/eval/<scenario>.json and
# runs `systemd-analyze verify` / `security` on the unit files.
{
  lib,
  scenario,
}:

let
  inherit (lib) mkOption types;

  storePath = name: "${builtins.storeDir}/00000000000000000000000000000000-${name}";
  fakeDrv = name: extra: {
    type = "derivation";
    inherit name;
    outPath = storePath name;
  } // extra;

  jdk = fakeDrv "openjdk-headless-21" { };

  pkgs = {
    # pkgs.formats.yaml's type, as in nixpkgs' pkgs-lib/formats.nix (a JSON value).
    formats.yaml =
      { }:
      {
        type =
          let
            valueType =
              types.nullOr (
                types.oneOf [
                  types.bool
                  types.int
                  types.float
                  types.str
                  types.path
                  (types.attrsOf valueType)
                  (types.listOf valueType)
                ]
              )
              // {
                description = "YAML value";
              };
          in
          valueType;
        generate = name: value: storePath name;
      };
    runCommand = name: env: script: storePath name;
    stdenv = {
      buildPlatform.canExecute = platform: true;
      hostPlatform = { };
    };
    jdk21_headless = jdk;
    ncro = fakeDrv "ncro-0.1.0" {
      jre = jdk;
      natives = import ../native-libraries.nix {
        isAarch64 = false;
        isMusl = false;
      };
    };
  };

  # NixOS's systemd unit option type (nixos/lib/systemd-types.nix): lists concatenate, other
  # values must agree.
  unitOption = lib.mkOptionType {
    name = "systemd option";
    merge =
      loc: defs:
      let
        defs' = lib.filterOverrides defs;
      in
      if lib.any (d: lib.isList d.value) defs' then
        lib.concatMap (d: lib.toList d.value) defs'
      else
        lib.mergeEqualOption loc defs';
  };
  strList = mkOption {
    type = types.listOf types.str;
    default = [ ];
  };
  unitOptions = {
    description = mkOption {
      type = types.str;
      default = "";
    };
    wantedBy = strList;
    wants = strList;
    after = strList;
    before = strList;
    requires = strList;
    unitConfig = mkOption {
      type = types.attrsOf unitOption;
      default = { };
    };
  };
  serviceType = types.submodule {
    options = unitOptions // {
      environment = mkOption {
        type = types.attrsOf types.str;
        default = { };
      };
      serviceConfig = mkOption {
        type = types.attrsOf unitOption;
        default = { };
      };
    };
  };
  pathType = types.submodule {
    options = unitOptions // {
      pathConfig = mkOption {
        type = types.attrsOf unitOption;
        default = { };
      };
    };
  };
  socketType = types.submodule {
    options = unitOptions // {
      listenStreams = strList;
      socketConfig = mkOption {
        type = types.attrsOf unitOption;
        default = { };
      };
    };
  };

  nixosStubs = {
    options = {
      assertions = mkOption {
        type = types.listOf types.unspecified;
        default = [ ];
      };
      warnings = strList;
      nix.settings = mkOption {
        type = types.submodule {
          freeformType = types.attrsOf types.anything;
          options.substituters = strList;
          options.trusted-public-keys = strList;
        };
        default = { };
      };
      networking.firewall.allowedTCPPorts = mkOption {
        type = types.listOf types.port;
        default = [ ];
      };
      networking.firewall.allowedUDPPorts = mkOption {
        type = types.listOf types.port;
        default = [ ];
      };
      # nixos/modules/config/networking.nix: internal, set from networking.proxy.*.
      networking.proxy.envVars = mkOption {
        type = types.attrs;
        default = { };
      };
      systemd.services = mkOption {
        type = types.attrsOf serviceType;
        default = { };
      };
      systemd.sockets = mkOption {
        type = types.attrsOf socketType;
        default = { };
      };
      systemd.paths = mkOption {
        type = types.attrsOf pathType;
        default = { };
      };
      systemd.package = mkOption {
        type = types.package;
        default = fakeDrv "systemd-257" { };
      };
      # Only what the postgresql scenario sets (nixos/modules/services/databases/postgresql.nix).
      services.postgresql = mkOption {
        type = types.attrsOf types.anything;
        default = { };
      };
    };
    # As nixos/modules/config/nix.nix sets them.
    config.nix.settings = {
      substituters = lib.mkAfter [ "https://cache.nixos.org/" ];
      trusted-public-keys = [ "cache.nixos.org-1:6NCHdD59X431o0gWypbMrAURkbJ16ZPMQFGspcDShjY=" ];
    };
  };

  scenarios = import ./module-scenarios.nix;

  evaluated = lib.evalModules {
    modules = [
      nixosStubs
      ../module.nix
      scenarios.${scenario}
    ];
    specialArgs.pkgs = pkgs;
  };
  cfg = evaluated.config;

  # A unit file as NixOS writes it (nixos/lib/systemd-lib.nix, attrsToSection): one line per
  # list element, booleans as true/false.
  render =
    v:
    if builtins.isBool v then
      (if v then "true" else "false")
    else
      toString v;
  section =
    attrs:
    lib.concatStrings (
      lib.mapAttrsToList (k: v: lib.concatMapStrings (x: "${k}=${render x}\n") (lib.toList v)) attrs
    );
  unitSection =
    u:
    "[Unit]\n"
    + section (
      lib.filterAttrs (_: v: v != [ ] && v != "") {
        Description = u.description;
        Wants = lib.concatStringsSep " " u.wants;
        After = lib.concatStringsSep " " u.after;
        Before = lib.concatStringsSep " " u.before;
        Requires = lib.concatStringsSep " " u.requires;
      }
      // u.unitConfig
    );
  installSection =
    u: lib.optionalString (u.wantedBy != [ ]) "\n[Install]\nWantedBy=${lib.concatStringsSep " " u.wantedBy}\n";
  serviceFile =
    s:
    unitSection s
    + "\n[Service]\n"
    + lib.concatStrings (lib.mapAttrsToList (k: v: "Environment=\"${k}=${v}\"\n") s.environment)
    + section s.serviceConfig
    + installSection s;
  pathFile =
    p: unitSection p + "\n[Path]\n" + section p.pathConfig + installSection p;
  socketFile =
    s:
    unitSection s
    + "\n[Socket]\n"
    + section ({ ListenStream = s.listenStreams; } // s.socketConfig)
    + installSection s;

  allInstances =
    lib.optional cfg.services.ncro.enable {
      name = "ncro";
      value = cfg.services.ncro;
    }
    ++ lib.mapAttrsToList (n: v: {
      name = "ncro-${n}";
      value = v;
    }) (lib.filterAttrs (_: v: v.enable) cfg.services.ncro.instances);
in
{
  settings = lib.listToAttrs (map (i: lib.nameValuePair i.name i.value.renderedSettings) allInstances);
  configFiles = lib.listToAttrs (map (i: lib.nameValuePair i.name i.value.configFile) allInstances);
  units =
    lib.mapAttrs' (n: s: lib.nameValuePair "${n}.service" (serviceFile s)) cfg.systemd.services
    // lib.mapAttrs' (n: s: lib.nameValuePair "${n}.socket" (socketFile s)) cfg.systemd.sockets
    // lib.mapAttrs' (n: p: lib.nameValuePair "${n}.path" (pathFile p)) cfg.systemd.paths;
  nix = {
    inherit (cfg.nix.settings) substituters trusted-public-keys;
  };
  firewall = {
    tcp = cfg.networking.firewall.allowedTCPPorts;
    udp = cfg.networking.firewall.allowedUDPPorts;
  };
  failedAssertions = map (a: a.message) (lib.filter (a: !a.assertion) cfg.assertions);
  inherit (cfg) warnings;
}

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
#
# This file: the options common to all instances and the NixOS config. nix/module/options.nix: the
# options of one instance; instance.nix: what the module derives from them (rendered settings,
# credentials, assertions); units.nix: its systemd units; lib.nix: small helpers.
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

  h = import ./module/lib.nix { inherit lib; };
  inherit (h) hostOf portOf;
  instance = import ./module/instance.nix { inherit lib h; };
  instanceOptions = import ./module/options.nix {
    inherit
      lib
      pkgs
      h
      settingsFormat
      defaults
      instance
      renderConfig
      ;
  };
  # networking.proxy.* as NixOS hands it to nix-daemon: ncro replaces the daemon's substituters, so
  # it needs the same way out (README "Behind a forward proxy").
  proxyEnvironment = config.networking.proxy.envVars or { };
  # The host's own systemctl (NixOS's systemd.package), for the credential restart.
  systemctl = "${config.systemd.package}/bin/systemctl";
  inherit (import ./module/units.nix { inherit lib pkgs h top proxyEnvironment systemctl; })
    serviceFor
    socketFor
    credentialPathFor
    credentialRestartFor
    ;

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
          # Credential files arrive through LoadCredential at start, not in this sandbox.
          ncro --config ${file} --check --skip-secret-files
          cp ${file} $out
        ''
    else
      file;

  instances =
    lib.optional top.enable (instance "" top)
    ++ lib.mapAttrsToList instance (lib.filterAttrs (_: i: i.enable) top.instances);
  # Instances with files from the host that a change of restarts (restartOnCredentialChange).
  restarted = lib.filter (
    i: i.icfg.restartOnCredentialChange && i.credentialSources != [ ]
  ) instances;

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
        Append every enabled instance's upstream (and fallback cache) `public_key`/`public_keys` (and,
        with discovery on, its `discovery.public_keys`) to
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
      allowedUDPPorts =
        map (i: i.meshPort) (
          lib.filter (i: i.icfg.openFirewall && i.icfg.settings.mesh.enabled) instances
        )
        # mDNS answers for discovery (multicast to 224.0.0.251:5353)
        ++ lib.optional (lib.any (i: i.icfg.openFirewall && i.discoveryEnabled) instances) 5353;
    };

    systemd.services = lib.listToAttrs (
      map (i: lib.nameValuePair i.unit (serviceFor i)) instances
      ++ map (i: lib.nameValuePair "${i.unit}-credentials" (credentialRestartFor i)) restarted
    );

    systemd.paths = lib.listToAttrs (
      map (i: lib.nameValuePair "${i.unit}-credentials" (credentialPathFor i)) restarted
    );

    systemd.sockets = lib.listToAttrs (
      map (i: lib.nameValuePair i.unit (socketFor i)) (lib.filter (i: i.socketActivated) instances)
    );
  };
}

# Small helpers of the ncro NixOS module (nix/module.nix): names and paths of an instance,
# `host:port` parsing, and the renderings systemd and YAML need.
{ lib }:

let
  inherit (lib) types;
in
rec {
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
}

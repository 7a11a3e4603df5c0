# Evaluates nix/package.nix with stand-ins for the nixpkgs functions it calls, without nixpkgs:
# what it hands to fetchurl and linkFarm (the local Maven repository built from the lock), its
# build command and its meta. PackagingIT checks the result against nix/maven-deps.json.
#
#   nix-instantiate --eval --strict --json nix/tests/eval-package.nix --arg lib 'import .../lib'
{ lib }:

let
  drv = name: extra: {
    type = "derivation";
    inherit name;
    outPath = "${builtins.storeDir}/00000000000000000000000000000000-${name}";
  } // extra;

  pkg = import ../package.nix {
    inherit lib;
    stdenv = {
      mkDerivation = f: lib.fix f;
      hostPlatform = {
        isAarch64 = false;
        isMusl = false;
      };
    };
    fetchurl = args: drv (baseNameOf args.url) { fetched = args; };
    linkFarm = name: entries: drv name { inherit entries; };
    maven = drv "maven-3.9.9" { version = "3.9.9"; };
    unzip = drv "unzip" { };
    runtimeShell = "${builtins.storeDir}/00000000000000000000000000000000-bash/bin/bash";
    jdk21_headless = drv "openjdk-headless-21" { home = "/jdk"; };
  };
in
{
  inherit (pkg) pname version buildPhase installPhase;
  natives = {
    inherit (pkg.passthru.natives) dir jarEntries;
    jvmOptions = pkg.passthru.natives.jvmOptions "DIR";
  };
  sources = map (f: lib.removePrefix (toString ../.. + "/") (toString f)) (
    lib.fileset.toList pkg.passthru.sources
  );
  repository = map (e: {
    path = e.name;
    inherit (e.path.fetched) url sha256;
  }) pkg.passthru.mavenRepository.entries;
  meta = {
    inherit (pkg.meta) homepage changelog mainProgram platforms;
    license = pkg.meta.license.spdxId;
  };
}

{
  description = "ncro, the Nix Cache Route Optimizer: a substituter proxy that races several binary caches";

  # nixos-25.05: Maven 3.9.9 (what nix/maven-deps.json was made with), jdk21_headless, linkFarm,
  # lib.fileset, lib.mkPackageOption, pkgs.formats.yaml and pkgs.testers.runNixOSTest.
  # No flake.lock is committed: it could not be produced on the machine this was written on (no
  # access to GitHub). `nix flake lock` creates it; until then each user resolves nixos-25.05's
  # current head.
  inputs.nixpkgs.url = "github:NixOS/nixpkgs/nixos-25.05";

  outputs =
    { self, nixpkgs }:
    let
      inherit (nixpkgs) lib;
      # Linux only: see meta.platforms in nix/package.nix.
      systems = [
        "x86_64-linux"
        "aarch64-linux"
      ];
      forAllSystems = f: lib.genAttrs systems (system: f system nixpkgs.legacyPackages.${system});

      # The module's rendering of `settings`, evaluated in a throw-away NixOS configuration.
      renderedConfig =
        system: settings:
        (lib.nixosSystem {
          modules = [
            self.nixosModules.ncro
            {
              nixpkgs.hostPlatform = system;
              boot.isContainer = true;
              system.stateVersion = "25.05";
              services.ncro = {
                enable = true;
                inherit settings;
              };
            }
          ];
        }).config.services.ncro.configFile;
    in
    {
      packages = forAllSystems (
        system: pkgs: {
          ncro = pkgs.callPackage ./nix/package.nix { };
          default = self.packages.${system}.ncro;
        }
      );

      apps = forAllSystems (
        system: pkgs: {
          default = {
            type = "app";
            program = lib.getExe self.packages.${system}.ncro;
            meta.description = "Run ncro (ncro --config FILE; ncro --help)";
          };
        }
      );

      overlays.default = final: prev: { ncro = final.callPackage ./nix/package.nix { }; };

      nixosModules = {
        ncro = ./nix/module.nix;
        default = self.nixosModules.ncro;
      };

      # What bin/test needs besides a Nix client (which a Nix user already has, where Debian
      # needs nix-bin): a JDK, Maven, nginx, promtool and Chromium for the end-to-end tests.
      devShells = forAllSystems (
        system: pkgs: {
          default = pkgs.mkShell {
            packages = [
              pkgs.jdk21
              pkgs.maven
              pkgs.nginx
              pkgs.prometheus # promtool
              pkgs.chromium
              pkgs.curl
              pkgs.jq # nix/maven-deps
              pkgs.nixfmt-rfc-style
            ];
            JAVA_HOME = pkgs.jdk21.home;
          };
        }
      );

      checks = forAllSystems (
        system: pkgs: {
          package = self.packages.${system}.ncro;

          # The NixOS VM test: upstream cache → ncro → client.
          e2e = pkgs.testers.runNixOSTest ./nix/tests/e2e.nix;

          # The module renders the data of the YAML fixtures the JUnit PackagingIT loads into
          # ncro's config loader (compared parsed, not byte for byte), and `ncro --check` accepts
          # them (services.ncro.checkConfig).
          rendered-config =
            let
              python = pkgs.python3.withPackages (ps: [ ps.pyyaml ]);
              same = a: b: ''
                ${python}/bin/python3 -c 'import sys, yaml
                a, b = (yaml.safe_load(open(f)) for f in sys.argv[1:])
                sys.exit(0 if a == b else "%s and %s differ:\n%s\n%s" % (sys.argv[1], sys.argv[2], a, b))' ${a} ${b}
              '';
            in
            pkgs.runCommand "ncro-rendered-config" { } ''
              ${same ./src/test/resources/packaging/module-rendered.yaml (
                renderedConfig system (import ./nix/tests/sample-settings.nix)
              )}
              ${same ./src/test/resources/packaging/module-defaults-rendered.yaml (renderedConfig system { })}
              touch $out
            '';

          # The set-ups ModuleEvalIT evaluates with stubbed NixOS options, evaluated here in a
          # real NixOS configuration: each instance's rendered settings are the fixture's.
          module-scenarios =
            let
              scenarios = removeAttrs (import ./nix/tests/module-scenarios.nix) [ "invalid" ];
              rendered =
                scenario:
                let
                  c =
                    (lib.nixosSystem {
                      modules = [
                        self.nixosModules.ncro
                        scenario
                        {
                          nixpkgs.hostPlatform = system;
                          boot.isContainer = true;
                          system.stateVersion = "25.05";
                        }
                      ];
                    }).config.services.ncro;
                in
                lib.optionalAttrs c.enable { ncro = c.renderedSettings; }
                // lib.mapAttrs' (n: i: lib.nameValuePair "ncro-${n}" i.renderedSettings) (
                  lib.filterAttrs (_: i: i.enable) c.instances
                );
              fixture = name: (lib.importJSON ./src/test/resources/packaging/eval/${name}.json).settings;
              differing = lib.filter (n: rendered scenarios.${n} != fixture n) (lib.attrNames scenarios);
            in
            pkgs.runCommand "ncro-module-scenarios" { } (
              if differing == [ ] then
                "touch $out"
              else
                ''
                  echo "rendered settings differ from src/test/resources/packaging/eval/: ${toString differing}" >&2
                  exit 1
                ''
            );
        }
      );

      formatter = forAllSystems (system: pkgs: pkgs.nixfmt-rfc-style);
    };
}

{
  description = "ncro, the Nix Cache Route Optimizer: a substituter proxy that races several binary caches";

  # nixos-25.05 has maven.buildMavenPackage (mvnJdk, mvnParameters, doCheck → -DskipTests),
  # jdk21_headless, lib.fileset, pkgs.formats.yaml and pkgs.testers.runNixOSTest.
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

          # The module renders exactly the YAML fixtures the JUnit PackagingTest loads into
          # ncro's config loader, and `ncro --check` accepts them (services.ncro.checkConfig).
          rendered-config = pkgs.runCommand "ncro-rendered-config" { } ''
            diff -u ${./src/test/resources/packaging/module-rendered.yaml} \
              ${renderedConfig system (import ./nix/tests/sample-settings.nix)}
            diff -u ${./src/test/resources/packaging/module-defaults-rendered.yaml} \
              ${renderedConfig system { }}
            touch $out
          '';
        }
      );

      formatter = forAllSystems (system: pkgs: pkgs.nixfmt-rfc-style);
    };
}

# The defaults of the typed `services.ncro.settings` options (nix/module.nix reads them from here).
# With no `settings` at all, the module renders exactly this value to YAML, which the JUnit test
# src/test/java/dev/ncro/packaging/PackagingIT.java checks against
# src/test/resources/packaging/module-defaults-rendered.yaml and loads with ncro's config loader.
# Plain Nix, no nixpkgs: `nix-instantiate --eval --strict --json nix/settings-defaults.nix`.
#
# The values are ncro's own defaults (src/main/resources/default-config.yaml), except that the
# mesh key file has a path in the state directory, so a node keeps its identity across restarts
# once mesh mode is turned on (ncro creates the file, mode 0600, at its first start).
{
  server = {
    listen = ":8080";
  };

  upstreams = [
    {
      url = "https://cache.nixos.org";
      priority = 10;
      public_key = "cache.nixos.org-1:6NCHdD59X431o0gWypbMrAURkbJ16ZPMQFGspcDShjY=";
    }
  ];

  cache = {
    db_path = "/var/lib/ncro/routes.db";
    ttl = "1h";
  };

  logging = {
    level = "info";
    format = "json";
  };

  mesh = {
    enabled = false;
    bind_addr = "0.0.0.0:7946";
    private_key = "/var/lib/ncro/node.key";
  };
}

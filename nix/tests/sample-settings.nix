# A sample `services.ncro.settings` value. It sets every typed option of nix/module.nix (and every
# upstream's priority) explicitly, so the module renders exactly this value: its YAML rendering is
# src/test/resources/packaging/module-rendered.yaml (the JUnit PackagingIT compares the two
# structurally and loads the YAML with ncro's config loader; the flake check `rendered-config`
# compares the module's real output with it byte for byte). Plain Nix, no nixpkgs.
{
  server = {
    listen = "127.0.0.1:8080";
    read_timeout = "20s"; # freeform: not a typed option
  };

  upstreams = [
    {
      url = "https://cache.nixos.org";
      priority = 10;
      public_key = "cache.nixos.org-1:6NCHdD59X431o0gWypbMrAURkbJ16ZPMQFGspcDShjY=";
    }
    {
      url = "https://nix-community.cachix.org";
      priority = 20;
      # freeform list form; public_key is left null and so not rendered
      public_keys = [ "nix-community.cachix.org-1:mB9FSh9qf2dCimDSUo8Zy7bkq5CX+/rkCWyvRCYg3Fs=" ];
    }
  ];

  cache = {
    db_path = "/var/lib/ncro/routes.db";
    ttl = "30m";
    negative_ttl = "5m";
    max_entries = 50000;
    latency_alpha = 0.5;
  };

  timeouts.first_byte = "5s";

  logging = {
    level = "warn";
    format = "text";
  };

  mesh = {
    enabled = true;
    bind_addr = "0.0.0.0:7946";
    private_key = "/var/lib/ncro/node.key";
    gossip_interval = "1m";
    peers = [
      {
        addr = "100.64.1.2:7946";
        public_key = "9611627710d8ab5d3f2aeb927408a595a1973aa6449a996d4ef27e3b6aadaa14";
      }
    ];
  };
}

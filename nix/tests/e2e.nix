# NixOS VM test, in the style of nixpkgs' nixos/tests (modelled on harmonia.nix and
# nix-serve.nix): an upstream binary cache, ncro in front of it, and a client whose only
# substituter is ncro. The client substitutes a path; ncro's metrics must show the race won by the
# upstream that has it.
#
# Run through the flake: `nix build .#checks.x86_64-linux.e2e` (or `nix flake check`).
# Interactively: `nix run .#checks.x86_64-linux.e2e.driverInteractive`.
{ pkgs, lib, ... }:

let
  # A test-only signing key pair (made with `nix-store --generate-binary-cache-key ncro-e2e-1`).
  # The secret is public on purpose: it signs nothing but this test's payload.
  cacheSecretKey = pkgs.writeText "ncro-e2e-cache-key" "ncro-e2e-1:H7BQ90Rfp6QOzzYW7kZ/I194NSY2HoTzEmdhWC2/Awbvm07McmPwIMFcRHzImto83kHhQSVq80SBdoWvjxEysA==";
  cachePublicKey = "ncro-e2e-1:75tOzHJj8CDBXER8yJraPN5B4UElavNEgXaFr48RMrA=";

  # What the client substitutes: registered in the upstream's store only.
  payload = pkgs.writeText "ncro-e2e-payload" "substituted through ncro\n";

  # A second upstream that has nothing (every narinfo is a 404), so the race has a loser.
  emptyCache = pkgs.writeTextDir "nix-cache-info" "StoreDir: /nix/store\n";

  nixServeUrl = "http://upstream:5000";
  emptyUrl = "http://upstream:8081";
in
{
  name = "ncro-e2e";

  nodes = {
    upstream = {
      services.nix-serve = {
        enable = true;
        secretKeyFile = "${cacheSecretKey}";
        openFirewall = true;
      };
      services.nginx = {
        enable = true;
        virtualHosts.empty-cache = {
          listen = [
            {
              addr = "0.0.0.0";
              port = 8081;
            }
          ];
          root = emptyCache;
        };
      };
      networking.firewall.allowedTCPPorts = [ 8081 ];
      system.extraDependencies = [ payload ];
    };

    proxy = {
      imports = [ ../module.nix ];
      services.ncro = {
        enable = true;
        openFirewall = true;
        # The proxy's own Nix goes through ncro only (the VMs have no internet anyway), and
        # trusts the upstream key through addUpstreamPublicKeys (on with nixSubstituter).
        nixSubstituter = {
          enable = true;
          exclusive = true;
        };
        settings = {
          upstreams = [
            {
              url = nixServeUrl;
              priority = 10;
              public_key = cachePublicKey;
            }
            {
              url = emptyUrl;
              priority = 20;
            }
          ];
          # Quick recovery if ncro probes the upstream before it is up.
          cache.probe_interval = "2s";
          logging.format = "text";
        };
      };
      environment.systemPackages = [ pkgs.curl ];
    };

    client = {
      nix.settings = {
        substituters = lib.mkForce [ "http://proxy:8080" ];
        trusted-public-keys = lib.mkForce [ cachePublicKey ];
      };
      environment.systemPackages = [ pkgs.curl ];
    };
  };

  testScript = ''
    import re

    start_all()

    upstream.wait_for_unit("nix-serve.service")
    upstream.wait_for_unit("nginx.service")
    upstream.wait_for_open_port(5000)
    upstream.wait_for_open_port(8081)

    proxy.wait_for_unit("ncro.service")
    proxy.wait_for_open_port(8080)
    proxy.wait_until_succeeds("curl -sf http://localhost:8080/health")

    # The hardened unit really is hardened (and the JVM runs under it).
    props = proxy.succeed(
        "systemctl show ncro.service -p DynamicUser -p ProtectSystem -p NoNewPrivileges "
        "-p MemoryDenyWriteExecute -p StateDirectory -p Type -p WatchdogUSec"
    )
    # Type=notify: "active" means ncro sent READY=1 (listener, route store and mesh up).
    for expected in ["DynamicUser=yes", "ProtectSystem=strict", "NoNewPrivileges=yes",
                     "MemoryDenyWriteExecute=no", "StateDirectory=ncro", "Type=notify",
                     "WatchdogUSec=1min"]:
        assert expected in props, f"{expected} not in:\n{props}"

    client.wait_until_succeeds("curl -sf http://proxy:8080/nix-cache-info | grep -q 'StoreDir: /nix/store'")

    # The client's only substituter is ncro; a separate store guarantees the path is not
    # already valid on the client.
    client.succeed("nix-store --realise ${payload} --store /root/other-store")
    client.succeed("grep -q 'substituted through ncro' /root/other-store${payload}")

    # ncro raced both upstreams; nix-serve (the one holding the path) won.
    metrics = proxy.succeed("curl -sf http://localhost:8080/metrics")

    def counter(name, upstream_url):
        m = re.search(
            r'^' + name + r'\{upstream="' + re.escape(upstream_url) + r'"\} (\S+)$',
            metrics, re.MULTILINE)
        assert m, f"{name} for {upstream_url} missing from /metrics:\n{metrics}"
        return float(m.group(1))

    wins = counter("ncro_upstream_race_wins_total", "${nixServeUrl}")
    assert wins >= 1, f"expected a race win for ${nixServeUrl}, got {wins}"
    assert counter("ncro_upstream_race_wins_total", "${emptyUrl}") == 0

    # The route is stored under the state directory, and the NAR went through ncro.
    proxy.succeed("test -s /var/lib/ncro/routes.db")
    assert counter("ncro_nar_bytes_total", "${nixServeUrl}") > 0

    # nixSubstituter + addUpstreamPublicKeys: the proxy's Nix uses ncro alone and trusts the
    # upstream's key; the same path now comes from ncro's route cache, without a race.
    nix_conf = proxy.succeed("cat /etc/nix/nix.conf")
    assert re.search(r"^substituters = http://127\.0\.0\.1:8080$", nix_conf, re.MULTILINE), nix_conf
    assert "${cachePublicKey}" in nix_conf, nix_conf
    proxy.succeed("nix-store --realise ${payload} --store /root/other-store")
    hits = proxy.succeed("curl -sf http://localhost:8080/metrics")
    m = re.search(r"^ncro_narinfo_cache_hits_total (\S+)$", hits, re.MULTILINE)
    assert m and float(m.group(1)) >= 1, hits
  '';
}

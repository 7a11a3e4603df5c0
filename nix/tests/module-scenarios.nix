# NixOS configurations of services.ncro that nix/tests/eval-module.nix evaluates with the real
# module system; what each renders is src/test/resources/packaging/eval/<name>.json.
let
  nixosKey = "cache.nixos.org-1:6NCHdD59X431o0gWypbMrAURkbJ16ZPMQFGspcDShjY=";
  communityKey = "nix-community.cachix.org-1:mB9FSh9qf2dCimDSUo8Zy7bkq5CX+/rkCWyvRCYg3Fs=";
in
{
  # Nothing but enable: the module's defaults.
  default = {
    services.ncro.enable = true;
  };

  # This host's Nix uses ncro first and keeps cache.nixos.org behind it (the default).
  substituter = {
    services.ncro = {
      enable = true;
      nixSubstituter.enable = true;
    };
  };

  # ncro as the only substituter; its upstream keys trusted.
  exclusive = {
    services.ncro = {
      enable = true;
      nixSubstituter = {
        enable = true;
        exclusive = true;
      };
      settings.upstreams = [
        {
          url = "https://cache.nixos.org";
          public_key = nixosKey;
        }
        {
          url = "https://nix-community.cachix.org";
          priority = 20;
          public_key = communityKey;
        }
      ];
    };
  };

  # The socket unit binds the address (systemd wants an IP: localhost is 127.0.0.1); ncro gets
  # listen "" and serves fd 3.
  socket = {
    services.ncro = {
      enable = true;
      socketActivation.enable = true;
      settings.server.listen = "localhost:8080";
    };
  };

  # Mesh mode with a key kept outside the state directory (delivered with LoadCredential), a
  # privileged gossip port, the firewall opened, and JVM options that need quoting.
  mesh = {
    services.ncro = {
      enable = true;
      openFirewall = true;
      settings.mesh = {
        enabled = true;
        bind_addr = "0.0.0.0:946";
        private_key = "/etc/ncro/node.key";
        peers = [
          {
            addr = "100.64.1.2:946";
            public_key = "9611627710d8ab5d3f2aeb927408a595a1973aa6449a996d4ef27e3b6aadaa14";
          }
        ];
      };
      jvmOptions = [
        "-Xmx256m"
        "-Dncro.label=two words"
        "-Dncro.pct=100%"
        "-Dncro.glob=*"
      ];
    };
  };

  # LAN discovery: Nix trusts the LAN caches' key as well, and the firewall lets mDNS answers in.
  discovery = {
    services.ncro = {
      enable = true;
      nixSubstituter.enable = true;
      openFirewall = true;
      settings.discovery = {
        enabled = true;
        public_keys = [ "lan-cache-1:6NCHdD59X431o0gWypbMrAURkbJ16ZPMQFGspcDShjY=" ];
      };
    };
  };

  # The default instance plus two named ones: a private cache with credentials, and a socket-
  # activated staging instance.
  instances = {
    services.ncro = {
      enable = true;
      instances.private = {
        settings = {
          server.listen = "127.0.0.1:8081";
          upstreams = [
            {
              url = "https://cache.example.org";
              username = "ci";
              password_file = "/run/secrets/private-cache-password";
              ca_file = "/etc/ssl/private-ca.pem";
            }
            {
              url = "https://attic.example.org/main";
              bearer_token_file = "/run/secrets/attic-token";
            }
          ];
        };
        netrcFile = "/run/secrets/ncro-netrc";
      };
      instances.staging = {
        socketActivation.enable = true;
        settings.server.listen = "[::1]:8082";
        settings.logging.level = "debug";
      };
    };
  };

  # Client access control and S3 credentials.
  credentials = {
    services.ncro = {
      enable = true;
      allow = [
        "127.0.0.1/32"
        "10.0.0.0/8"
      ];
      settings.server.clients = [
        {
          username = "builder";
          password_file = "/run/secrets/ncro-builder";
        }
        { bearer_token_file = "/run/secrets/ncro-ci-token"; }
      ];
      settings.upstreams = [ { url = "s3://nix-cache?region=eu-west-1"; } ];
      awsCredentialsFile = "/run/secrets/aws-credentials";
      awsConfigFile = "/run/secrets/aws-config";
      awsProfile = "nix-cache";
      environmentFile = "/run/secrets/ncro.env";
    };
    # As networking.proxy.default = "http://proxy.corp.example:3128" sets it: passed on, as to
    # nix-daemon.
    networking.proxy.envVars = {
      https_proxy = "http://proxy.corp.example:3128";
      HTTPS_PROXY = "http://proxy.corp.example:3128";
      no_proxy = "127.0.0.1,localhost";
    };
  };

  # An upstream token from a host file, delivered with LoadCredential: the path unit restarts
  # ncro when the file changes (restartOnCredentialChange, on by default; PackagingIT runs it
  # under real systemd). The second instance opts out: no path unit for it.
  rotation = {
    services.ncro = {
      enable = true;
      settings.upstreams = [
        {
          url = "https://cache.example.com";
          bearer_token_file = "/run/ncro-test/token";
        }
      ];
      instances.pinned = {
        enable = true;
        restartOnCredentialChange = false;
        settings.server.listen = "127.0.0.1:8081";
        settings.upstreams = [
          {
            url = "https://cache.example.com";
            bearer_token_file = "/run/ncro-test/token";
          }
        ];
      };
    };
  };

  # Path filters on an upstream, and a fallback cache whose token file is delivered with
  # LoadCredential and whose key Nix is told to trust.
  policy = {
    services.ncro = {
      enable = true;
      nixSubstituter = {
        enable = true;
        exclusive = true;
      };
      settings.upstreams = [
        {
          url = "https://cache.nixos.org";
          public_key = nixosKey;
          filters = [
            {
              action = "deny";
              field = "name";
              pattern = "unfree-*";
            }
            {
              action = "deny";
              field = "reference";
              pattern = "/nix/store/*-openssl-1.0*";
            }
          ];
        }
        {
          url = "https://cache.corp.example";
          filters = [
            {
              action = "allow";
              field = "name";
              pattern = "mycorp-*";
            }
          ];
        }
      ];
      settings.fallback_cache = {
        url = "https://archive.corp.example";
        public_key = communityKey;
        bearer_token_file = "/run/secrets/archive-token";
        ca_file = "/etc/ssl/corp-ca.pem";
      };
    };
  };

  # Two nodes' worth of settings on one shared PostgreSQL, here a local one (services.postgresql
  # with ensureDatabases/ensureUsers); the password through LoadCredential.
  postgresql = {
    services.postgresql = {
      enable = true;
      ensureDatabases = [ "ncro" ];
      ensureUsers = [
        {
          name = "ncro";
          ensureDBOwnership = true;
        }
      ];
    };
    services.ncro = {
      enable = true;
      settings.cache = {
        store = "postgresql";
        postgresql = {
          url = "postgresql://ncro@127.0.0.1:5432/ncro?sslmode=disable";
          password_file = "/run/secrets/ncro-db-password";
          pool_size = 4;
        };
      };
    };
  };

  # What the module refuses: ports out of range, two instances on one port, an inline password.
  invalid = {
    services.ncro = {
      enable = true;
      settings.mesh = {
        enabled = true;
        bind_addr = "0.0.0.0:70000";
      };
      instances.twin.settings.server.listen = "127.0.0.1:8080";
      instances.db.settings = {
        server.listen = "127.0.0.1:8083";
        cache.store = "postgresql";
      };
      instances.dbpw.settings = {
        server.listen = "127.0.0.1:8084";
        cache.store = "postgresql";
        cache.postgresql.url = "postgresql://ncro:hunter2@db/ncro";
      };
      instances.zero.settings = {
        server.listen = "127.0.0.1:0";
        upstreams = [
          {
            url = "https://cache.example.org";
            username = "ci";
            password = "hunter2";
          }
        ];
        fallback_cache = {
          url = "https://archive.example.org";
          password = "hunter2";
          username = "ci";
        };
      };
    };
  };
}

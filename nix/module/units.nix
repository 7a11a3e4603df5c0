# The systemd units of one ncro instance (from nix/module/instance.nix): the hardened
# `Type=notify` service, with socket activation its socket unit, and the path unit (and its
# oneshot) that restarts it when a credential file changes.
{
  lib,
  pkgs,
  h,
  top,
  proxyEnvironment,
  systemctl,
}:

let
  inherit (h) escapeSystemdArg listenStream;

  # The confinement both services share (the ncro service adds a dynamic user, no capabilities
  # and its system-call filter; the restart oneshot, root with CAP_SYS_ADMIN, adds no network).
  confined = {
    NoNewPrivileges = true;
    ProtectSystem = "strict";
    ProtectHome = true;
    PrivateTmp = true;
    PrivateDevices = true;
    ProtectKernelTunables = true;
    ProtectKernelModules = true;
    ProtectKernelLogs = true;
    ProtectControlGroups = true;
    ProtectClock = true;
    ProtectHostname = true;
    ProtectProc = "invisible";
    RestrictNamespaces = true;
    RestrictRealtime = true;
    RestrictSUIDSGID = true;
    LockPersonality = true;
    SystemCallArchitectures = "native";
    UMask = "0077";
  };
in
{
  serviceFor = inst: {
    description = "ncro, the Nix Cache Route Optimizer${lib.optionalString (inst.name != "") " (${inst.name})"}";
    wantedBy = lib.optional (!inst.socketActivated) "multi-user.target";
    wants = [ "network-online.target" ];
    # A local PostgreSQL (services.postgresql) is up first; a remote one or none: harmless.
    after = [
      "network-online.target"
    ]
    ++ lib.optional inst.usesPostgresql "postgresql.service"
    ++ lib.optional inst.socketActivated "${inst.unit}.socket";
    requires = lib.optional inst.socketActivated "${inst.unit}.socket";

    # A proxy password belongs in environmentFile: networking.proxy is in the Nix store.
    environment = proxyEnvironment // inst.awsEnvironment;

    serviceConfig = confined // {
      # READY=1 once the listener, the route store and the mesh socket are up; WATCHDOG=1 every
      # 30 s while the event loops answer (SystemdIT). A hung JVM is restarted after 60 s.
      Type = "notify";
      WatchdogSec = "60s";
      ExecStart = lib.concatStringsSep " " (
        map escapeSystemdArg (
          [ (lib.getExe' (top.package.jre or pkgs.jdk21_headless) "java") ]
          # Netty's and SQLite's native libraries from the package, not copied from the jar to
          # /tmp at every start (nix/native-libraries.nix); before jvmOptions, so those win.
          ++ lib.optionals (top.package ? natives) (
            top.package.natives.jvmOptions "${top.package}/${top.package.natives.dir}"
          )
          ++ inst.icfg.jvmOptions
          ++ [
            "-jar"
            "${top.package}/share/ncro/ncro.jar"
            "--config"
            "${inst.icfg.configFile}"
          ]
        )
      );
      LoadCredential = inst.loadCredential;
      EnvironmentFile = lib.optional (inst.icfg.environmentFile != null) inst.icfg.environmentFile;
      Restart = "on-failure";
      RestartSec = "5s";
      # On SIGTERM ncro drains for up to 5 s. A JVM stopped by SIGTERM may report exit status
      # 143 (128 + 15) once its shutdown hooks ran: a clean stop, not a failure.
      SuccessExitStatus = "143";
      TimeoutStopSec = "30s";
      LimitNOFILE = 65536;

      DynamicUser = true;
      StateDirectory = inst.unit;
      StateDirectoryMode = "0700";
      WorkingDirectory = inst.stateDir;

      # Hardening. The JVM and its bundled natives (netty epoll, sqlite-jdbc, unpacked to the
      # private /tmp) need nothing beyond this.
      CapabilityBoundingSet = if inst.privileged then "CAP_NET_BIND_SERVICE" else "";
      AmbientCapabilities = lib.optionals inst.privileged [ "CAP_NET_BIND_SERVICE" ];
      PrivateUsers = !inst.privileged;
      DevicePolicy = "closed";
      RestrictAddressFamilies = [
        "AF_INET"
        "AF_INET6"
        "AF_UNIX"
      ];
      RemoveIPC = true;
      SystemCallFilter = [
        "@system-service"
        "~@privileged"
      ];
      SystemCallErrorNumber = "EPERM";
      # Not enabled: HotSpot needs memory that is writable and executable (JIT code cache, and
      # the template interpreter generated at start). Under systemd's filter the JVM dies at
      # once: "Failed to mark memory page as executable" (checked, see docs/install.md).
      MemoryDenyWriteExecute = false;
    };
  };

  # LoadCredential copies the files at start: a changed host file restarts the service (the
  # option restartOnCredentialChange). PathChanged= fires when a writer closes the file and when a
  # file is renamed over it; try-restart leaves a stopped service stopped.
  credentialPathFor = inst: {
    description = "Restarts ${inst.unit}.service when a credential file changes";
    wantedBy = [ "paths.target" ];
    pathConfig = {
      PathChanged = inst.credentialSources;
      Unit = "${inst.unit}-credentials.service";
    };
  };
  credentialRestartFor = inst: {
    description = "Restart ${inst.unit}.service for changed credentials";
    # Root (systemd answers a restart request from root, or from whom polkit allows), with
    # CAP_SYS_ADMIN only, which systemd checks for managing units; nothing else is reachable.
    serviceConfig = confined // {
      Type = "oneshot";
      ExecStart = "${systemctl} try-restart ${inst.unit}.service";
      CapabilityBoundingSet = "CAP_SYS_ADMIN";
      PrivateNetwork = true;
      IPAddressDeny = "any";
      RestrictAddressFamilies = "AF_UNIX";
      MemoryDenyWriteExecute = true;
      SystemCallFilter = [ "@system-service" ];
    };
  };

  socketFor = inst: {
    description = "ncro's listening socket${lib.optionalString (inst.name != "") " (${inst.name})"}";
    wantedBy = [ "sockets.target" ];
    listenStreams = [ (listenStream inst.listen) ];
    socketConfig = {
      # As ncro's own listener (SO_BACKLOG 1024): connections made while it starts wait here.
      Backlog = 1024;
    };
  };
}

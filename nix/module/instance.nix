# Everything the ncro NixOS module derives from one instance's options (`services.ncro` itself is
# instance "", `services.ncro.instances.<name>` instance <name>): the settings as rendered (credential
# paths rewritten, nulls dropped), the LoadCredential entries, the ports and the assertions.
{ lib, h }:

let
  inherit (h)
    unitName
    optionPath
    stateDirOf
    credentialDir
    portOf
    validPort
    dropNulls
    inStore
    ;
in
  name: icfg:
  let
    s = icfg.settings;
    stateDir = stateDirOf name;
    opt = optionPath name;

    # A `*_file` setting: a store path is used as it is (world-readable: fine for a CA, warned
    # for a secret); any other path is loaded as credential `id`.
    fileSetting =
      secret: id: where: src:
      if src == null then
        {
          value = null;
          load = [ ];
          warn = [ ];
        }
      else if inStore src then
        {
          value = src;
          load = [ ];
          warn = lib.optional secret "${opt}: ${where} (${src}) is in the Nix store, readable by every user of this host; give a path outside the store, which the service then reads through LoadCredential.";
        }
      else
        {
          value = "${credentialDir name}/${id}";
          load = [ "${id}:${src}" ];
          warn = [ ];
        };

    upstreamFiles = lib.imap0 (
      i: u:
      let
        at = "settings.upstreams.${toString i}";
        files = {
          password_file = fileSetting true "upstream${toString i}-password" "${at}.password_file" (
            u.password_file or null
          );
          bearer_token_file = fileSetting true "upstream${toString i}-token" "${at}.bearer_token_file" (
            u.bearer_token_file or null
          );
          ca_file = fileSetting false "upstream${toString i}-ca" "${at}.ca_file" (u.ca_file or null);
        };
      in
      {
        upstream = u // lib.mapAttrs (_: f: f.value) files;
        files = lib.attrValues files;
      }
    ) s.upstreams;

    fallback = s.fallback_cache or null;
    fallbackFiles =
      if fallback == null then
        [ ]
      else
        [
          (fileSetting true "fallback-password" "settings.fallback_cache.password_file" (
            fallback.password_file or null
          ))
          (fileSetting true "fallback-token" "settings.fallback_cache.bearer_token_file" (
            fallback.bearer_token_file or null
          ))
          (fileSetting false "fallback-ca" "settings.fallback_cache.ca_file" (fallback.ca_file or null))
        ];
    renderedFallback =
      if fallback == null then
        null
      else
        fallback
        // {
          password_file = (lib.elemAt fallbackFiles 0).value;
          bearer_token_file = (lib.elemAt fallbackFiles 1).value;
          ca_file = (lib.elemAt fallbackFiles 2).value;
        };

    clients = s.server.clients or [ ];
    clientFiles = lib.imap0 (
      i: c:
      let
        at = "settings.server.clients.${toString i}";
        files = {
          password_file = fileSetting true "client${toString i}-password" "${at}.password_file" (
            c.password_file or null
          );
          bearer_token_file = fileSetting true "client${toString i}-token" "${at}.bearer_token_file" (
            c.bearer_token_file or null
          );
        };
      in
      {
        client = c // lib.mapAttrs (_: f: f.value) files;
        files = lib.attrValues files;
      }
    ) clients;

    netrc = fileSetting true "netrc" "netrcFile" (
      if icfg.netrcFile != null then icfg.netrcFile else s.netrc_file or null
    );
    awsCredentials = fileSetting true "aws-credentials" "awsCredentialsFile" icfg.awsCredentialsFile;
    awsConfig = fileSetting true "aws-config" "awsConfigFile" icfg.awsConfigFile;
    postgresql = s.cache.postgresql or null;
    usesPostgresql = (s.cache.store or null) == "postgresql";
    dbPassword = fileSetting true "postgresql-password" "settings.cache.postgresql.password_file" (
      if postgresql == null then null else postgresql.password_file or null
    );

    # A mesh key outside the state directory cannot be created by the dynamic user, nor read
    # safely in place: it is delivered as a credential (and must exist).
    meshKeyOutside =
      s.mesh.enabled && s.mesh.private_key != "" && !(lib.hasPrefix "${stateDir}/" s.mesh.private_key);
    meshKey =
      if meshKeyOutside then
        fileSetting true "mesh-key" "settings.mesh.private_key" s.mesh.private_key
      else
        {
          value = s.mesh.private_key;
          load = [ ];
          warn = [ ];
        };

    extraCredentials = lib.mapAttrsToList (id: src: {
      value = null;
      load = [ "${id}:${src}" ];
      warn = [ ];
    }) icfg.credentials;

    allFiles =
      lib.concatMap (u: u.files) upstreamFiles
      ++ fallbackFiles
      ++ lib.concatMap (c: c.files) clientFiles
      ++ [
        netrc
        awsCredentials
        awsConfig
        meshKey
        dbPassword
      ]
      ++ extraCredentials;

    listen = s.server.listen;
    listenPort = portOf listen;
    meshPort = portOf s.mesh.bind_addr;
    socketActivated = icfg.socketActivation.enable;

    rendered = dropNulls (
      s
      // {
        server =
          s.server
          // {
            # Socket activation: systemd binds the address (ncro.socket); ncro serves fd 3.
            listen = if socketActivated then "" else listen;
          }
          // lib.optionalAttrs (icfg.allow != null) { allow = icfg.allow; }
          // lib.optionalAttrs (clients != [ ]) { clients = map (c: c.client) clientFiles; };
        upstreams = map (u: u.upstream) upstreamFiles;
        fallback_cache = renderedFallback;
        cache =
          s.cache
          // lib.optionalAttrs (postgresql != null) {
            postgresql = postgresql // {
              password_file = dbPassword.value;
            };
          };
        mesh = s.mesh // {
          private_key = meshKey.value;
        };
      }
      // lib.optionalAttrs (netrc.value != null) { netrc_file = netrc.value; }
    );
    discoveryEnabled = (s.discovery or { }).enabled or false;
  in
  {
    inherit
      name
      discoveryEnabled
      icfg
      stateDir
      listen
      listenPort
      meshPort
      socketActivated
      rendered
      usesPostgresql
      ;
    unit = unitName name;
    loadCredential = lib.concatMap (f: f.load) allFiles;
    # The host paths behind loadCredential ("id:path"): what a change of restarts the service.
    credentialSources = lib.unique (
      map (l: lib.concatStringsSep ":" (lib.drop 1 (lib.splitString ":" l))) (
        lib.concatMap (f: f.load) allFiles
      )
    );
    credentialWarnings = lib.concatMap (f: f.warn) allFiles;
    awsEnvironment =
      lib.optionalAttrs (awsCredentials.value != null) {
        AWS_SHARED_CREDENTIALS_FILE = awsCredentials.value;
      }
      // lib.optionalAttrs (awsConfig.value != null) { AWS_CONFIG_FILE = awsConfig.value; }
      // lib.optionalAttrs (icfg.awsProfile != null) { AWS_PROFILE = icfg.awsProfile; };
    # Only what ncro itself binds needs the capability: a socket unit binds as root.
    privileged = (!socketActivated && listenPort < 1024) || (s.mesh.enabled && meshPort < 1024);
    # The LAN caches discovery may use sign with discovery.public_keys: Nix must trust those too.
    keys = lib.unique (
      lib.concatMap (
        u: lib.optional ((u.public_key or null) != null) u.public_key ++ (u.public_keys or [ ])
      ) (s.upstreams ++ lib.optional (fallback != null && (fallback.enabled or true)) fallback)
      ++ lib.optionals discoveryEnabled (s.discovery.public_keys or [ ])
    );

    assertions = [
      {
        assertion = lib.hasPrefix "${stateDir}/" s.cache.db_path;
        message = "${opt}.settings.cache.db_path must be under ${stateDir}/ (the service's StateDirectory; nothing else is writable), got \"${s.cache.db_path}\".";
      }
      {
        assertion = s.upstreams != [ ];
        message = "${opt}.settings.upstreams must list at least one binary cache.";
      }
      {
        assertion = validPort listenPort;
        message = "${opt}.settings.server.listen: port ${toString listenPort} is outside 1-65535.";
      }
      {
        assertion = !s.mesh.enabled || validPort meshPort;
        message = "${opt}.settings.mesh.bind_addr: port ${toString meshPort} is outside 1-65535.";
      }
      {
        assertion = lib.all (u: !(u ? password) && !(u ? bearer_token)) s.upstreams;
        message = "${opt}.settings.upstreams: `password` and `bearer_token` would be written to the world-readable Nix store; use `password_file` / `bearer_token_file` (delivered through LoadCredential).";
      }
      {
        assertion = fallback == null || (!(fallback ? password) && !(fallback ? bearer_token));
        message = "${opt}.settings.fallback_cache: `password` and `bearer_token` would be written to the world-readable Nix store; use `password_file` / `bearer_token_file` (delivered through LoadCredential).";
      }
      {
        assertion = lib.all (c: !(c ? password) && !(c ? bearer_token)) clients;
        message = "${opt}.settings.server.clients: `password` and `bearer_token` would be written to the world-readable Nix store; use `password_file` / `bearer_token_file`.";
      }
      {
        assertion = !usesPostgresql || postgresql != null;
        message = "${opt}.settings.cache.store is \"postgresql\": set ${opt}.settings.cache.postgresql.url.";
      }
      {
        # userinfo with a colon, or a password= parameter: the password would be in the store.
        assertion =
          postgresql == null
          || (
            builtins.match ".*://[^/@]*:[^/@]*@.*" postgresql.url == null
            && builtins.match ".*[?&]password=.*" postgresql.url == null
          );
        message = "${opt}.settings.cache.postgresql.url carries a password, which would be written to the world-readable Nix store; use settings.cache.postgresql.password_file (delivered through LoadCredential).";
      }
      {
        assertion = !(meshKeyOutside && inStore s.mesh.private_key);
        message = "${opt}.settings.mesh.private_key is in the Nix store (${s.mesh.private_key}): the node's secret key would be readable by every user. Keep it in ${stateDir}/ (created at first start) or in a file outside the store.";
      }
    ];
  }

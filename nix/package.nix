# ncro built from this repository: Maven runs offline against a local repository assembled from
# the lock nix/maven-deps.json (one fetchurl per jar and pom, joined with linkFarm), so the build
# needs no hash to be edited and no network. Wrapped to run on a headless OpenJDK 21 from nixpkgs.
# Call it with `pkgs.callPackage ./nix/package.nix { }`.
#
# nixpkgs' maven.buildMavenPackage downloads everything in one fixed-output derivation whose hash
# must be pasted in after a failed first build; its older buildMaven takes the infoFile of the
# unmaintained mvn2nix plugin. Neither takes a lock that can be regenerated and checked without
# Nix (nix/maven-deps, nix/maven-deps --check), hence this small builder.
{
  lib,
  stdenv,
  fetchurl,
  linkFarm,
  maven,
  unzip,
  runtimeShell,
  jdk21_headless,
}:

let
  lock = lib.importJSON ./maven-deps.json;

  # Netty's epoll library and SQLite's for the platform ncro runs on, out of the jar at build time.
  natives = import ./native-libraries.nix stdenv.hostPlatform;

  # bin/ncro: nix/ncro-wrapper.sh with the JDK, the default JVM options and the native libraries'
  # options filled in; @out@ and @name@ (the store path and its last component) at build time.
  wrapper =
    lib.replaceStrings
      [ "@shell@" "@java@" "@javaOptions@" "@nativeOptions@" ]
      [
        runtimeShell
        (lib.getExe' jdk21_headless "java")
        "-Xmx256m -XX:+UseSerialGC -XX:+ExitOnOutOfMemoryError -XX:TrimNativeHeapInterval=5000"
        (toString (natives.jvmOptions "@out@/${natives.dir}"))
      ]
      (builtins.readFile ./ncro-wrapper.sh);

  # The local Maven repository: each locked file at its repository path. The sha256 is that of
  # the file Maven Central serves, so each fetch is fixed-output and shared between builds.
  repository = linkFarm "ncro-maven-repository" (
    map (artifact: {
      name = artifact.path;
      path = fetchurl {
        url = "${lock.repository}/${artifact.path}";
        inherit (artifact) sha256;
      };
    }) lock.artifacts
  );

  # Only what the Maven build reads, and the two monitoring files installed beside the jar:
  # editing docs, nix/ or bin/ does not rebuild ncro.
  sources = lib.fileset.unions [
    ../pom.xml
    ../src
    # for services.prometheus.ruleFiles and Grafana's dashboard provisioning
    ../contrib/prometheus-alerts.yaml
    ../contrib/grafana-dashboard.json
  ];
in
stdenv.mkDerivation (finalAttrs: {
  pname = "ncro";
  version = import ./version.nix;

  src = lib.fileset.toSource {
    root = ../.;
    fileset = sources;
  };

  # The lock lists what this Maven version resolves; another version may need other plugin
  # dependencies (the build then fails offline, naming the missing artifact).
  nativeBuildInputs =
    lib.warnIf (maven.version != lock.maven)
      "ncro: nix/maven-deps.json was made with Maven ${lock.maven}, nixpkgs has ${maven.version}; if the build misses an artifact, regenerate the lock with nix/maven-deps"
      [
        maven
        unzip
      ];

  # The JDK Maven runs on (the pom compiles with --release 21).
  env.JAVA_HOME = jdk21_headless.home;

  # Maven writes its bookkeeping next to the artifacts: a writable copy of the symlink tree.
  # The tests need the Nix client, nginx, Chromium and network access: not in a build sandbox;
  # maven.test.skip also skips compiling them. The Jazzer fuzz execution is bound to
  # `integration-test`, which `package` never reaches.
  buildPhase = ''
    runHook preBuild

    cp -R --no-preserve=mode ${repository} "$TMPDIR/m2"
    mvn --offline --batch-mode -Dmaven.repo.local="$TMPDIR/m2" \
      -Dmaven.test.skip=true -Dncro.skipFuzz=true package

    runHook postBuild
  '';

  # target/ncro.jar is the shaded, runnable jar (<finalName>ncro</finalName>), byte-identical
  # across builds (project.build.outputTimestamp). bin/ncro, for `nix run` and shells, runs it on
  # jdk21_headless with $NCRO_JAVA_OPTS (split on spaces, as the repository's bin/ncro does), the
  # native libraries from $out/lib/ncro and a class-data-sharing archive in the user's cache
  # directory (nix/ncro-wrapper.sh says how to change each). The NixOS module does not go through
  # it: it runs passthru.jre with the jar and each JVM option as its own, systemd-escaped argument,
  # the native libraries' options included (passthru.natives).
  installPhase = ''
    runHook preInstall

    install -Dm644 target/ncro.jar $out/share/ncro/ncro.jar
    install -Dm644 -t $out/share/ncro contrib/prometheus-alerts.yaml contrib/grafana-dashboard.json
    unzip -q target/ncro.jar ${lib.escapeShellArgs natives.jarEntries} -d "$TMPDIR/natives"
    for f in ${lib.escapeShellArgs natives.jarEntries}; do
      install -Dm755 -t $out/${natives.dir} "$TMPDIR/natives/$f"
    done
    mkdir -p $out/bin
    printf '%s' ${lib.escapeShellArg wrapper} |
      sed -e "s|@out@|$out|g" -e "s|@name@|''${out##*/}|g" >$out/bin/ncro
    chmod 755 $out/bin/ncro

    runHook postInstall
  '';

  passthru = {
    inherit sources natives;
    jre = jdk21_headless;
    mavenRepository = repository;
  };

  meta = {
    description = "Nix Cache Route Optimizer: a substituter proxy that races several binary caches";
    longDescription = ''
      ncro is an HTTP proxy that Nix uses as its only substituter. It asks every configured
      binary cache for a narinfo at once, remembers which one answered fastest (SQLite, with a
      TTL) and streams NARs from that cache without storing them.
    '';
    homepage = "https://github.com/ncro-dev/ncro";
    changelog = "https://github.com/ncro-dev/ncro/releases/tag/v${finalAttrs.version}";
    license = lib.licenses.asl20;
    mainProgram = "ncro";
    # Linux only: netty's native epoll transport is bundled for linux-x86_64 and linux-aarch_64,
    # and sqlite-jdbc's bundled natives cover linux x86_64/aarch64.
    platforms = [
      "x86_64-linux"
      "aarch64-linux"
    ];
    sourceProvenance = with lib.sourceTypes; [
      fromSource
      binaryBytecode # the Maven dependencies are prebuilt jars
      binaryNativeCode # netty-transport-native-epoll and sqlite-jdbc ship .so files
    ];
  };
})

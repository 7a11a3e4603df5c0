# ncro built from this repository with nixpkgs' Maven builder, wrapped to run on a headless
# OpenJDK 21 from nixpkgs. Call it with `pkgs.callPackage ./nix/package.nix { }`.
{
  lib,
  maven,
  makeWrapper,
  jdk21_headless,
}:

maven.buildMavenPackage {
  pname = "ncro";
  version = import ./version.nix;

  # Only what the Maven build reads: editing docs, nix/ or bin/ does not rebuild ncro.
  src = lib.fileset.toSource {
    root = ../.;
    fileset = lib.fileset.unions [
      ../pom.xml
      ../src
    ];
  };

  # The JDK Maven runs on (the pom compiles with --release 21).
  mvnJdk = jdk21_headless;

  # Hash of the fixed-output derivation holding every Maven artifact the build downloads.
  # It cannot be computed without nixpkgs, so it starts as lib.fakeHash: run `nix build .#ncro`,
  # which fails with "hash mismatch ... got: sha256-...", and paste that value here. Recompute
  # it whenever pom.xml changes (a new dependency or plugin version changes the set of jars).
  mvnHash = lib.fakeHash;

  # The test suite needs the Nix client, nginx, Chromium and network access: not in a build
  # sandbox. doCheck = false makes buildMavenPackage pass -DskipTests (to the dependency fetch
  # too); maven.test.skip also skips compiling the tests. The Jazzer fuzz execution is bound to
  # `integration-test`, which `mvn package` never reaches; skipping it is belt and braces.
  doCheck = false;
  mvnParameters = lib.escapeShellArgs [
    "-Dmaven.test.skip=true"
    "-Dncro.skipFuzz=true"
  ];

  nativeBuildInputs = [ makeWrapper ];

  # target/ncro.jar is the shaded, runnable jar (<finalName>ncro</finalName>). The wrapper runs
  # it on jdk21_headless. JVM options come from $NCRO_JAVA_OPTS (split on spaces, as bin/ncro
  # does); unset, a serial collector is used (small heap, 2 cores or fewer is the usual host).
  # An empty NCRO_JAVA_OPTS passes no option at all.
  installPhase = ''
    runHook preInstall

    install -Dm644 target/ncro.jar $out/share/ncro/ncro.jar
    makeWrapper ${lib.getExe' jdk21_headless "java"} $out/bin/ncro \
      --set-default NCRO_JAVA_OPTS "-Xmx256m -XX:+UseSerialGC -XX:+ExitOnOutOfMemoryError" \
      --add-flags "\$NCRO_JAVA_OPTS" \
      --add-flags "-jar $out/share/ncro/ncro.jar"

    runHook postInstall
  '';

  passthru.jre = jdk21_headless;

  meta = {
    description = "Nix Cache Route Optimizer: a substituter proxy that races several binary caches";
    longDescription = ''
      ncro is an HTTP proxy that Nix uses as its only substituter. It asks every configured
      binary cache for a narinfo at once, remembers which one answered fastest (SQLite, with a
      TTL) and streams NARs from that cache without storing them.
    '';
    mainProgram = "ncro";
    # Linux only: netty's native epoll transport is bundled for linux-x86_64 alone (other
    # platforms fall back to NIO), and sqlite-jdbc's bundled natives cover linux x86_64/aarch64.
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
}

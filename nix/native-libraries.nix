# The two native libraries ncro loads at every start, Netty's epoll transport and sqlite-jdbc's
# SQLite, for one platform: where they sit in ncro.jar, and the JVM options that load them from a
# directory instead. Left in the jar, both are copied to a temporary file at every start, and
# sqlite-jdbc first forks `uname -o` to tell Android from Linux (about 0.1 s of a start:
# docs/decisions.md §10, addendum of the fourteenth session). nix/package.nix takes them out of the
# jar at build time into $out/lib/ncro; its wrapper and the NixOS module's units pass the options.
# bin/ncro does the same at run time (bin/lib/jdk.sh, ncro_native_*).
#
# Both loaders fall back to their own copy when the directory lacks the library, so an option that
# points nowhere costs nothing but the fallback.
platform:

let
  arch = if platform.isAarch64 then "aarch64" else "x86_64";
in
{
  # Below $out: one directory, no other files.
  dir = "lib/ncro";

  # Paths inside ncro.jar (the shaded jar keeps each dependency's layout).
  jarEntries = [
    "META-INF/native/libnetty_transport_native_epoll_${
      if platform.isAarch64 then "aarch_64" else "x86_64"
    }.so"
    "org/sqlite/native/${if platform.isMusl then "Linux-Musl" else "Linux"}/${arch}/libsqlitejdbc.so"
  ];

  # Netty tries java.library.path before its own copy; sqlite-jdbc takes the path and file name.
  jvmOptions = dir: [
    "-Djava.library.path=${dir}"
    "-Dorg.sqlite.lib.path=${dir}"
    "-Dorg.sqlite.lib.name=libsqlitejdbc.so"
  ];
}

#!@shell@
# bin/ncro of the Nix package: runs ncro.jar on the package's JDK. nix/package.nix writes it with
# the JDK, the default options and the package's own store path filled in.
#
# - NCRO_JAVA_OPTS: the JVM options, split on spaces as bin/ncro of the repository does; unset, a
#   bounded heap and the serial collector (docs/install.md, "NixOS").
# - Netty's epoll library and SQLite's load from the package's lib/ncro, taken out of the jar at
#   build time (nix/native-libraries.nix); these options come first, so NCRO_JAVA_OPTS can
#   override them.
# - NCRO_ARCHIVE_OPTS: the start-up archive options; unset, a class-data-sharing archive of this
#   package in the user's cache directory, written by the JVM at the first run's exit and mapped by
#   the next runs (start-up 1.8 s -> 1.3 s on the bench machine, with the native libraries above;
#   docs/decisions.md §10). Set it empty to run without one. Archives of other ncro packages
#   there go after a day. Without a writable cache directory ncro starts without an archive.
set -eu
if [ -z "${NCRO_ARCHIVE_OPTS+set}" ]; then
  NCRO_ARCHIVE_OPTS=
  cache=${XDG_CACHE_HOME:-${HOME:-/nonexistent}/.cache}/ncro
  if mkdir -p "$cache" 2>/dev/null && [ -w "$cache" ]; then
    archive=$cache/nix-@name@.jsa
    find "$cache" -maxdepth 1 -name 'nix-*.jsa' ! -name "nix-@name@.jsa" -mtime +0 -delete 2>/dev/null || true
    NCRO_ARCHIVE_OPTS="-XX:+AutoCreateSharedArchive -XX:SharedArchiveFile=$archive -XX:+VerifySharedSpaces -Xlog:cds=off -Xlog:cds+dynamic=off"
  fi
fi
# shellcheck disable=SC2086 # both variables hold options split on spaces
exec @java@ @nativeOptions@ ${NCRO_JAVA_OPTS-@javaOptions@} $NCRO_ARCHIVE_OPTS -jar @out@/share/ncro/ncro.jar "$@"

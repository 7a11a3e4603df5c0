# Sourced by bin/ncro and bin/test: picks a JDK >= 21 and exports JAVA_HOME.
# Order: $JAVA_HOME if it is >= 21, else the newest JDK >= 21 under /usr/lib/jvm.

ncro_java_major() { # prints the feature version of the java at $1/bin/java, or nothing
  local v
  # The JDK's release file when it has one: starting a JVM to ask costs 0.1 to 0.2 s per call.
  v=$(sed -n 's/^JAVA_VERSION="\([0-9.]*\).*/\1/p' "$1/release" 2>/dev/null)
  case "$v" in 1.*) v=${v#1.}; v=${v%%.*} ;; *) v=${v%%.*} ;; esac
  if [ -n "$v" ]; then echo "$v"; return; fi
  v=$("$1/bin/java" -XshowSettings:properties -version 2>&1 | sed -n 's/^ *java\.specification\.version = //p')
  case "$v" in 1.*) echo "${v#1.}" ;; *) echo "$v" ;; esac
}

ncro_find_jdk() {
  if [ -n "${JAVA_HOME:-}" ] && [ -x "$JAVA_HOME/bin/javac" ]; then
    local m; m=$(ncro_java_major "$JAVA_HOME")
    if [ -n "$m" ] && [ "$m" -ge 21 ]; then return 0; fi
  fi
  local best="" best_major=0 d m
  for d in /usr/lib/jvm/*; do
    [ -x "$d/bin/javac" ] || continue
    m=$(ncro_java_major "$d")
    [ -n "$m" ] || continue
    if [ "$m" -ge 21 ] && [ "$m" -gt "$best_major" ]; then best=$d; best_major=$m; fi
  done
  if [ -z "$best" ]; then
    echo "ncro: no JDK >= 21 found (JAVA_HOME=${JAVA_HOME:-unset}, nothing suitable under /usr/lib/jvm)." >&2
    echo "ncro: install one (e.g. Temurin 21+ or openjdk-21-jdk) or point JAVA_HOME at it." >&2
    return 1
  fi
  export JAVA_HOME=$best
}

# ncro_unsafe_opt JAVA_HOME [MARK_DIR]: prints --sun-misc-unsafe-memory-access=allow where that JDK
# has the option and needs it (24 and later), else nothing. From JDK 24 the JDK warns on
# sun.misc.Unsafe's memory access unless allowed, so Netty 4.2 stops using Unsafe there and frees
# direct buffers through a Foreign Function downcall it links at start: 0.1 to 0.2 s more to the
# first answer, with the AOT cache (docs/benchmarks.md, "Thirteenth session"). A JDK that no longer
# accepts the option is asked once and remembered in MARK_DIR (without one, the option is left out).
ncro_unsafe_opt() {
  local major mark
  major=$(ncro_java_major "$1")
  [ -n "$major" ] && [ "$major" -ge 24 ] && [ -n "${2:-}" ] || return 0
  mark="$2/jdk-$major-$(stat -c %Y "$1/bin/java" 2>/dev/null || echo 0).unsafe-allow"
  if [ ! -e "$mark" ]; then
    "$1/bin/java" --sun-misc-unsafe-memory-access=allow -version >/dev/null 2>&1 || return 0
    touch "$mark" 2>/dev/null || return 0
  fi
  echo "--sun-misc-unsafe-memory-access=allow"
}

# Native libraries of the jar, taken out of it once into a directory of their own: Netty's epoll
# transport and SQLite's driver otherwise copy theirs from the jar to a temporary file at every
# start, and SQLite's loader first forks `uname -o` to tell Android from Linux. About 0.1 s of every
# start (docs/benchmarks.md, "Fourteenth session"). Linux on x86_64 and aarch64, glibc or musl;
# elsewhere the libraries load as before.
# Bash's own OSTYPE and HOSTTYPE, and a builtin glob for musl's loader: no process forked on the
# start path for it.
ncro_native_arch() { # prints "NETTY_ARCH SQLITE_OS/SQLITE_ARCH", or nothing
  local os=Linux
  compgen -G '/lib/ld-musl-*' >/dev/null && os=Linux-Musl
  case "$OSTYPE/$HOSTTYPE" in
    linux*/x86_64) echo "x86_64 $os/x86_64" ;;
    linux*/aarch64) echo "aarch_64 $os/aarch64" ;;
  esac
}

# ncro_native_opts DIR: the JVM options that load the libraries from DIR, once it holds them
ncro_native_opts() {
  local arch
  read -r arch _ <<<"$(ncro_native_arch)"
  [ -n "$arch" ] && [ -s "$1/libnetty_transport_native_epoll_$arch.so" ] && [ -s "$1/libsqlitejdbc.so" ] || return 0
  # The JDK's default path after DIR, for any other library loaded by name.
  echo "-Djava.library.path=$1:/usr/java/packages/lib:/usr/lib64:/lib64:/lib:/usr/lib" \
    "-Dorg.sqlite.lib.path=$1 -Dorg.sqlite.lib.name=libsqlitejdbc.so"
}

# ncro_native_extract DIR JAR JAVA_HOME: DIR made from JAR's libraries (with unzip, or the JDK's
# jar tool), whole or not at all; one extraction at a time (DIR.tmp).
ncro_native_extract() {
  local arch sqlite files
  read -r arch sqlite <<<"$(ncro_native_arch)"
  [ -n "$arch" ] && [ ! -e "$1" ] && mkdir "$1.tmp" 2>/dev/null || return 0
  files=("META-INF/native/libnetty_transport_native_epoll_$arch.so" "org/sqlite/native/$sqlite/libsqlitejdbc.so")
  (cd "$1.tmp" &&
    if command -v unzip >/dev/null; then unzip -q "$2" "${files[@]}"; else "$3/bin/jar" xf "$2" "${files[@]}"; fi &&
    mkdir lib && mv "${files[@]}" lib/ && mv lib "$1")
  rm -rf "$1.tmp"
}

# Shared machinery for bench/run and the issue-6 benchmarks (bench/narinfo, bench/nar, bench/startup,
# bench/miss): building ncro once into its own output directory, nginx with one worker per core,
# real ncro (the jar, bin/ncro's JVM flags) in front of it, wrk/curl rounds, and the noise accounting
# of bench/stack/run (idle wait before each pair of rounds, CPU of other processes during each run).
# Source it; it sets REPO, OUT, JAVA_HOME.
set -euo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
OUT=${BENCH_OUT:-$REPO/bench/out/issue6}
export JAVA_HOME=${JAVA_HOME:-/usr/lib/jvm/temurin-25-jdk-amd64}
# bin/ncro's JVM flags (read from it, so the benchmarks follow the launcher), or BENCH_JAVA_OPTS
BIN_NCRO_OPTS=$(sed -n 's/.*NCRO_JAVA_OPTS:-\([^}]*\)}.*/\1/p' "$REPO/bin/ncro" | head -1)
JAVA_OPTS=${BENCH_JAVA_OPTS:-${BIN_NCRO_OPTS:--Xmx256m -XX:+UseSerialGC -Xss512k}}
# What ncro.jar's manifest (Enable-Native-Access) gives a `java -jar` launch, also for the benches
# that start ncro with -cp (in-process benches, bench/tls): without it, Netty on JDK 25 frees every
# unpooled direct buffer by closing a shared Arena (a handshake with every thread), unless some
# native library happened to load before Netty's first use (docs/benchmarks.md, sixth session).
JAVA_OPTS="$JAVA_OPTS --enable-native-access=ALL-UNNAMED"
# and what bin/ncro adds on JDK 24 and later (bin/lib/jdk.sh): Netty with sun.misc.Unsafe
case " $JAVA_OPTS " in
  *" --sun-misc-unsafe-memory-access="*) ;;
  *) mkdir -p "$OUT"; JAVA_OPTS="$JAVA_OPTS $(. "$REPO/bin/lib/jdk.sh"; ncro_unsafe_opt "$JAVA_HOME" "$OUT")" ;;
esac
NGINX=${NGINX:-$(command -v nginx || echo /usr/sbin/nginx)}
JAR_BUILD=${NCRO_BENCH_JAR_BUILD:-$REPO/target-bench6-jar}   # the jar benchmarks 3-5 run
TEST_BUILD=${NCRO_BENCH_BUILD:-$REPO/target-bench6}          # classes for the Java bench mains
QUIET_WAIT=${QUIET_WAIT:-20}
QUIET_BUDGET=${QUIET_BUDGET:-120}
CLEAN=${CLEAN:-25}
mkdir -p "$OUT/log"

for tool in wrk curl python3 "$NGINX" mvn "$JAVA_HOME/bin/java"; do
  command -v "$tool" >/dev/null || { echo "missing: $tool (apt-get install -y wrk nginx curl maven)" >&2; exit 1; }
done

PIDS=()
cleanup() { local p; for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() { for _ in $(seq 200); do curl -s -o /dev/null "http://127.0.0.1:$1/" && return 0; sleep 0.05; done; echo "port $1 never opened" >&2; exit 1; }
median() { sort -g | awk '{a[NR]=$1} END {if (NR==0) print "nan"; else if (NR%2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2}'; }
# summary FIGURE VALUE BASELINE RATIO GOAL MET: one tab-separated line that bench/run collects
summary() { printf 'SUMMARY\t%s\t%s\t%s\t%s\t%s\t%s\n' "$@"; }

jar_entries() { unzip -lv "$1" | awk 'NF >= 8 && length($7) == 8 && $7 ~ /^[0-9a-f]+$/ {print $7, $8}' | sort; }
# build_jar: $JAR_BUILD/ncro.jar from the working tree (its own output directory, tests skipped).
# A jar whose entries are the same as the last one's (names and CRCs: the shade plugin may order
# META-INF/services differently) is replaced by that one, time included, so the class-data
# archives and AOT caches trained on it stay usable (the JVM refuses them once the jar's time
# changes) and KEEP=1 can reuse them.
build_jar() {
  local log=$OUT/log/build-jar.log prev=$JAR_BUILD/ncro.jar.prev
  rm -f "$prev"; [ -f "$JAR_BUILD/ncro.jar" ] && cp -p "$JAR_BUILD/ncro.jar" "$prev"
  (cd "$REPO" && { mvn -B -q -o -Dncro.build.dir="$JAR_BUILD" -Dmaven.test.skip=true package >"$log" 2>&1 ||
      mvn -B -q -Dncro.build.dir="$JAR_BUILD" -Dmaven.test.skip=true package >"$log" 2>&1; }) ||
    { tail -30 "$log" >&2; echo "bench: building ncro failed (src/main may be mid-edit: retry)" >&2; exit 1; }
  JAR=$JAR_BUILD/ncro.jar
  local was; was=$([ -f "$prev" ] && jar_entries "$prev")
  if [ -n "$was" ] && [ "$was" = "$(jar_entries "$JAR")" ]; then mv "$prev" "$JAR"; fi
  rm -f "$prev"
}
# build_tests: test classes and classpath in $TEST_BUILD, for the Java bench mains
build_tests() {
  local log=$OUT/log/build-tests.log
  (cd "$REPO" && { mvn -B -q -o -Dncro.build.dir="$TEST_BUILD" test-compile dependency:build-classpath \
      -Dmdep.outputFile="$TEST_BUILD/test.classpath" -Dmdep.includeScope=test >"$log" 2>&1 ||
    mvn -B -q -Dncro.build.dir="$TEST_BUILD" test-compile dependency:build-classpath \
      -Dmdep.outputFile="$TEST_BUILD/test.classpath" -Dmdep.includeScope=test >"$log" 2>&1; }) ||
    { tail -30 "$log" >&2; echo "bench: test-compile failed" >&2; exit 1; }
  TEST_CP="$TEST_BUILD/test-classes:$TEST_BUILD/classes:$(cat "$TEST_BUILD/test.classpath")"
}

# start_nginx WWW_DIR: nginx, one worker per core, sendfile, serving WWW_DIR; sets NPORT, NGINX_PID
start_nginx() {
  local www=$1 d=$OUT/nginx
  mkdir -p "$d/tmp"
  NPORT=$(free_port)
  cat >"$d/nginx.conf" <<EOF
$( [ "$(id -u)" = 0 ] && echo "user root;" )
worker_processes ${NGINX_WORKERS:-$(nproc)};
daemon off;
pid $d/nginx.pid;
error_log $OUT/log/nginx-error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  sendfile on;
  tcp_nopush on;
  tcp_nodelay on;
  keepalive_requests 1000000;
  client_body_temp_path $d/tmp/body;
  proxy_temp_path $d/tmp/proxy;
  fastcgi_temp_path $d/tmp/fastcgi;
  uwsgi_temp_path $d/tmp/uwsgi;
  scgi_temp_path $d/tmp/scgi;
  types { text/x-nix-narinfo narinfo; application/x-nix-nar nar; text/plain nix-cache-info; }
  default_type application/octet-stream;
  server { listen 127.0.0.1:$NPORT; root $www; }
}
EOF
  "$NGINX" -p "$d" -e "$OUT/log/nginx-error.log" -c "$d/nginx.conf" &
  NGINX_PID=$!; PIDS+=("$NGINX_PID")
  wait_port "$NPORT"
}

# write_ncro_config FILE PORT DB UPSTREAM_URL
write_ncro_config() {
  cat >"$1" <<EOF
server:
  listen: "127.0.0.1:$2"
upstreams:
  - url: "$4"
    priority: 10
cache:
  db_path: "$3"
logging:
  level: warn
  format: text
EOF
}
# start_ncro UPSTREAM_URL [extra JVM options...]: real ncro from the jar; sets PORT, NCRO_PID
start_ncro() {
  local up=$1; shift
  local d; d=$(mktemp -d "$OUT/ncro.XXXXXX")
  PORT=$(free_port)
  write_ncro_config "$d/config.yaml" "$PORT" "$d/routes.db" "$up"
  "$JAVA_HOME/bin/java" $JAVA_OPTS "$@" -jar "$JAR" --config "$d/config.yaml" >"$OUT/log/ncro-$PORT.log" 2>&1 &
  NCRO_PID=$!; PIDS+=("$NCRO_PID")
  for _ in $(seq 400); do
    [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PORT/nix-cache-info")" = 200 ] && return 0
    kill -0 "$NCRO_PID" 2>/dev/null || { cat "$OUT/log/ncro-$PORT.log" >&2; echo "ncro exited" >&2; exit 1; }
    sleep 0.05
  done
  echo "ncro never answered on $PORT" >&2; exit 1
}
# train_archive OUT: bin/ncro's training run (bin/lib/AotTraining.java, no network) writing OUT, a
# JDK 25 AOT cache (*.aot) or a dynamic AppCDS archive (*.jsa); KEEP=1 reuses one newer than the jar
train_archive() {
  local out=$1 log=$OUT/log/training-${1##*/}.log t0=$EPOCHREALTIME
  if [ "${KEEP:-0}" = 1 ] && [ -s "$out" ] && [ "$out" -nt "$JAR" ]; then echo "   reusing $out"; return; fi
  rm -f "$out"
  "$JAVA_HOME/bin/java" "$REPO/bin/lib/AotTraining.java" "$JAR" "$out" $JAVA_OPTS >"$log" 2>&1 ||
    { tail -30 "$log" >&2; echo "bench: training run for $out failed" >&2; exit 1; }
  echo "   training run for ${out##*/}: $(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN {printf "%.0f", b-a}') s, $(du -m "$out" | cut -f1) MiB"
}
# archive_flags FILE: the JVM flags bin/ncro loads such an archive with
archive_flags() {
  case "$1" in
    *.aot) echo "-XX:AOTCache=$1 -XX:+VerifySharedSpaces -Xlog:aot=off -Xlog:cds=off" ;;
    *) echo "-XX:SharedArchiveFile=$1 -XX:+VerifySharedSpaces -Xlog:cds=off -Xlog:cds+dynamic=off" ;;
  esac
}
# native_flags: the options bin/ncro loads the jar's native libraries with, once it has taken them
# out of the jar (bin/lib/jdk.sh); here they are taken out at once, into $OUT
native_flags() {
  (. "$REPO/bin/lib/jdk.sh"; d=$OUT/ncro-$(stat -c %Y "$JAR").native
   ncro_native_extract "$d" "$JAR" "$JAVA_HOME"; ncro_native_opts "$d")
}
# java_major: the feature version of $JAVA_HOME (bin/lib/jdk.sh, as bin/ncro decides by it)
java_major() { (. "$REPO/bin/lib/jdk.sh"; ncro_java_major "$JAVA_HOME"); }
stop_pid() { kill "$1" 2>/dev/null || true; wait "$1" 2>/dev/null || true; }
rss_mib() { awk '/^VmRSS/ {printf "%.0f", $2/1024}' "/proc/$1/status"; }
hwm_mib() { awk '/^VmHWM/ {printf "%.0f", $2/1024}' "/proc/$1/status"; }

# wait_quiet: sets IDLE (% idle of a 1 s sample), after waiting (up to QUIET_WAIT s per call and
# QUIET_BUDGET s in all) for a sample >= 90 % idle: the machine is shared
wait_quiet() {
  local i a b
  IDLE=0
  for i in $(seq "$QUIET_WAIT"); do
    a=$(awk '/^cpu / {print $5+$6, $2+$3+$4+$5+$6+$7+$8+$9}' /proc/stat); sleep 1
    b=$(awk '/^cpu / {print $5+$6, $2+$3+$4+$5+$6+$7+$8+$9}' /proc/stat)
    IDLE=$(echo "$a $b" | awk '{printf "%.0f", 100*($3-$1)/($4-$2)}')
    [ "$IDLE" -ge 90 ] && break
    QUIET_BUDGET=$((QUIET_BUDGET - 1)); [ "$QUIET_BUDGET" -gt 0 ] || break
  done
}
# CPU accounting: OURS = the benchmark's long-running processes; wrk and curl are children of this
# shell and show in its cutime/cstime once waited for.
OURS=()
our_ticks() {
  local t=0 p
  for p in "${OURS[@]}"; do [ -r "/proc/$p/stat" ] && t=$((t + $(awk '{print $14+$15}' "/proc/$p/stat"))); done
  echo $((t + $(awk '{print $16+$17}' "/proc/$$/stat")))
}
busy_ticks() { awk '/^cpu / {print $2+$3+$4}' /proc/stat; }
CLK=$(getconf CLK_TCK)
# pid_ticks PID: user+system CPU ticks of one process; kid_ticks: of this shell's waited-for children
pid_ticks() { awk '{print $14+$15}' "/proc/$1/stat"; }
kid_ticks() { awk '{print $16+$17}' "/proc/$$/stat"; }
# timed CMD...: LINE = CMD's output; OTHER = CPU used meanwhile by other processes, % of one core
timed() {
  local t0=$EPOCHREALTIME b0 o0; b0=$(busy_ticks); o0=$(our_ticks)
  LINE=$("$@")
  OTHER=$(awk -v db=$(( $(busy_ticks) - b0 )) -v dours=$(( $(our_ticks) - o0 )) -v t0="$t0" -v t1="$EPOCHREALTIME" \
    'BEGIN {v = (db - dours) / (t1 - t0); printf "%.0f", v < 0 ? 0 : v}')
}
# pairs A_FILE B_FILE FIELDS: round pairs ("other% fields..." each, A first) with both runs undisturbed
# (other < CLEAN % of a core), or all of them when fewer than 3 are
pairs() {
  paste -d' ' "$1" "$2" | awk -v lim="$CLEAN" -v n="$3" '{all[NR]=$0} $1<lim && $(n+1)<lim {ok[++k]=$0}
    END {if (k >= 3) for (i = 1; i <= k; i++) print ok[i]; else for (i = 1; i <= NR; i++) print all[i]}'
}
clean_count() {
  paste -d' ' "$1" "$2" | awk -v lim="$CLEAN" -v n="$3" '$1<lim && $(n+1)<lim {k++}
    END {printf "%d/%d%s", k, NR, (k >= 3 ? "" : "*")}'
}
# wrk_round URL SECONDS -> "req/s p99_ms errors"
wrk_round() {
  wrk -t1 -c64 -d"$2s" --latency "$1" | awk '
    /Requests\/sec:/ {rps=$2}
    /^ +99%/ {v=$2; u=v; gsub(/[0-9.]/,"",u); sub(/[a-z]+$/,"",v);
              ms = u=="us" ? v/1000 : u=="ms" ? v : u=="s" ? v*1000 : v*60000}
    /Non-2xx|Socket errors/ {err=err $0 ";"}
    END {gsub(/ +/, "_", err); printf "%s %s %s\n", rps, ms, (err=="" ? "-" : err)}'
}
# nar_round URL SIZE -> MB/s (10^6 bytes); fails unless the whole file arrived
nar_round() {
  curl -s -o /dev/null -w '%{http_code} %{size_download} %{speed_download}\n' "$1" |
    awk -v size="$2" '$1!=200 || $2!=size {print "bad download: " $0 > "/dev/stderr"; exit 1} {printf "%.0f\n", $3/1e6}'
}

HASH=0c6kzph7l0dcbfmjap64f0czdafn3b7x   # 32 chars of Nix base32
NAR_NAME=1bd3jmw0ajxyq2l9kgcmbqbc7c2wqqq3x9fqxz1z1xhp2d1lkg7n.nar
NAR_SIZE=1073741824
# make_www: $OUT/www with nix-cache-info, a 1 KB narinfo (the one bench/stack/run uses) and a 1 GiB
# random NAR (taken from bench/out/stack when it is there); sets WWW
make_www() {
  WWW=$OUT/www
  mkdir -p "$WWW/nar"
  printf 'StoreDir: /nix/store\nWantMassQuery: 1\nPriority: 40\n' >"$WWW/nix-cache-info"
  {
    echo "StorePath: /nix/store/$HASH-hello-2.12.2"
    echo "URL: nar/$NAR_NAME"
    echo "Compression: none"
    echo "FileHash: sha256:1bd3jmw0ajxyq2l9kgcmbqbc7c2wqqq3x9fqxz1z1xhp2d1lkg7n"
    echo "FileSize: $NAR_SIZE"
    echo "NarHash: sha256:1bd3jmw0ajxyq2l9kgcmbqbc7c2wqqq3x9fqxz1z1xhp2d1lkg7n"
    echo "NarSize: $NAR_SIZE"
    printf 'References:'; for i in $(seq 12); do printf ' %s-glibc-2.40-%02d' "${HASH:0:30}$i" "$i"; done; echo
    echo "Deriver: ${HASH}-hello-2.12.2.drv"
    echo "Sig: cache.nixos.org-1:$(head -c 64 /dev/zero | base64 -w0)"
  } >"$WWW/$HASH.narinfo"
  local nar=$WWW/nar/$NAR_NAME stack=$REPO/bench/out/stack/www/nar/$NAR_NAME
  if [ "$(stat -c %s "$nar" 2>/dev/null || echo 0)" != "$NAR_SIZE" ]; then
    if [ "$(stat -c %s "$stack" 2>/dev/null || echo 0)" = "$NAR_SIZE" ]; then ln -f "$stack" "$nar" 2>/dev/null || cp "$stack" "$nar"
    else head -c "$NAR_SIZE" /dev/urandom >"$nar"; fi
  fi
  cat "$nar" >/dev/null   # into the page cache
}

#!/usr/bin/env bash
# Side-by-side load test on loopback: OpenRTMP (`openrtmp serve`) vs nginx-rtmp.
#
# Each scenario starts a fresh server pinned to CPU $SERVER_CPU and runs the load generator
# (crates/openrtmp-bench, example `loadgen`) pinned to CPU $LOADGEN_CPU against it. The load
# generator reads the server's CPU time (utime+stime of /proc/PID/stat) at the start and end of
# its measured window and its memory (VmRSS/VmHWM of /proc/PID/status), via --server-pid; this
# script also reads the server's CPU time before and after the whole scenario. Results: one
# JSON file per run in $OUT_DIR, a table and the OpenRTMP/nginx ratios on stdout.
#
# Usage: bench/compare.sh            (all scenarios, both servers)
# Environment (all optional):
#   SCENARIOS="fanout100 fanout1000 ingest idle1000"   which scenarios, in order
#   SERVERS="openrtmp nginx"                            which servers
#   SERVER_CPU=0 LOADGEN_CPU=1                          CPU pinning (taskset)
#   OPENRTMP_BIN=path   use this openrtmp binary instead of building openrtmp-cli
#   LOADGEN_BIN=path    use this load generator instead of building the example
#   OUT_DIR=dir         where JSON results and server logs go (default: a new /tmp dir)
# Only 127.0.0.1 is ever targeted.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
SCENARIOS=${SCENARIOS:-"fanout100 fanout1000 ingest idle1000"}
SERVERS=${SERVERS:-"openrtmp nginx"}
SERVER_CPU=${SERVER_CPU:-0}
LOADGEN_CPU=${LOADGEN_CPU:-1}
OUT_DIR=${OUT_DIR:-$(mktemp -d /tmp/openrtmp-compare.XXXXXX)}
NGINX_MODULE=/usr/lib/nginx/modules/ngx_rtmp_module.so
CLK_TCK=$(getconf CLK_TCK)
mkdir -p "$OUT_DIR"

say() { echo "[compare] $*" >&2; }
die() { say "error: $*"; exit 1; }

for tool in taskset jq cargo; do
    command -v "$tool" >/dev/null || die "$tool is required"
done
# 1000 players need 1000+ sockets in the load generator and in the server.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
(( $(ulimit -n) >= 4096 )) || say "warning: ulimit -n is $(ulimit -n); 1000-connection scenarios may fail"

# Load generator arguments per scenario. Warm-ups are longer than a GOP (2 s) so that
# nginx's players, which wait for the next keyframe, are all playing when measuring starts.
# --source-ips spreads 1000+ connections over 127.0.0.1-4: servers cap connections per IP
# (openrtmp's default limit is 1000).
scenario_args() {
    case "$1" in
        fanout100) echo "--mode fanout --players 100 --bitrate-kbps 3000 --duration 12 --warmup-secs 3" ;;
        fanout1000) echo "--mode fanout --players 1000 --bitrate-kbps 3000 --duration 12 --warmup-secs 3 --ramp-ms 2 --source-ips 4" ;;
        ingest) echo "--mode ingest --publishers 1 --duration 10 --warmup-secs 2" ;;
        idle1000) echo "--mode idle --connections 1000 --duration 6 --warmup-secs 1 --ramp-ms 1 --source-ips 4" ;;
        *) die "unknown scenario $1" ;;
    esac
}

# ---- binaries ---------------------------------------------------------------------------
if [[ -z ${LOADGEN_BIN:-} ]]; then
    say "building the load generator (cargo build --release -p openrtmp-bench --example loadgen)"
    (cd "$ROOT" && cargo build --release -q -p openrtmp-bench --example loadgen) || die "load generator build failed"
    LOADGEN_BIN=$TARGET/release/examples/loadgen
fi

OPENRTMP_REASON=""
if [[ " $SERVERS " == *" openrtmp "* && -z ${OPENRTMP_BIN:-} ]]; then
    say "building openrtmp (cargo build --release -p openrtmp-cli)"
    if (cd "$ROOT" && cargo build --release -q -p openrtmp-cli); then
        OPENRTMP_BIN=$TARGET/release/openrtmp
    else
        OPENRTMP_REASON="openrtmp-cli does not build right now"
    fi
fi
NGINX_REASON=""
command -v nginx >/dev/null || NGINX_REASON="nginx is not installed (apt-get install nginx libnginx-mod-rtmp)"
[[ -n $NGINX_REASON || -f $NGINX_MODULE ]] || NGINX_REASON="$NGINX_MODULE is missing (apt-get install libnginx-mod-rtmp)"

# ---- servers ----------------------------------------------------------------------------
SERVER_PID=""
cleanup() { [[ -n $SERVER_PID ]] && kill "$SERVER_PID" 2>/dev/null && wait "$SERVER_PID" 2>/dev/null; true; }
trap cleanup EXIT

free_port() {
    local port
    for _ in $(seq 50); do
        port=$(( 20000 + RANDOM % 20000 ))
        (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null || { echo "$port"; return; }
    done
    die "no free port found"
}

# Waits until $SERVER_PID listens on $1; fails if it exits or after 10 s.
wait_listening() {
    for _ in $(seq 200); do
        kill -0 "$SERVER_PID" 2>/dev/null || return 1
        (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
        sleep 0.05
    done
    return 1
}

start_nginx() { # dir port
    cat >"$1/nginx.conf" <<EOF
load_module $NGINX_MODULE;
daemon off;
master_process off;
worker_processes 1;
worker_rlimit_nofile 8192;
error_log $1/error.log warn;
pid $1/nginx.pid;
events { worker_connections 4096; }
rtmp {
    server {
        listen 127.0.0.1:$2;
        chunk_size 4096;
        application live { live on; wait_key on; }
    }
}
EOF
    taskset -c "$SERVER_CPU" nginx -p "$1" -c "$1/nginx.conf" >"$1/stdout.log" 2>"$1/stderr.log" &
    SERVER_PID=$!
}

start_openrtmp() { # dir port
    # The script's own settings are not the server's configuration (OPENRTMP_* is read as such).
    env -u OPENRTMP_BIN taskset -c "$SERVER_CPU" "$OPENRTMP_BIN" serve --log warn --listen "127.0.0.1:$2" >"$1/stdout.log" 2>"$1/stderr.log" &
    SERVER_PID=$!
}

cpu_ticks() { sed 's/.*) //' "/proc/$1/stat" | awk '{print $12 + $13}'; }

# ---- runs -------------------------------------------------------------------------------
run_one() { # server scenario
    local server=$1 scenario=$2 dir port before after json
    dir=$OUT_DIR/$server-$scenario
    mkdir -p "$dir"
    port=$(free_port)
    "start_$server" "$dir" "$port"
    if ! wait_listening "$port"; then
        say "$server did not start listening on 127.0.0.1:$port; its stderr:"
        tail -n 5 "$dir/stderr.log" >&2 || true
        cleanup; SERVER_PID=""
        return 1
    fi
    before=$(cpu_ticks "$SERVER_PID")
    say "$server / $scenario: $(scenario_args "$scenario")"
    # shellcheck disable=SC2046
    if ! taskset -c "$LOADGEN_CPU" "$LOADGEN_BIN" $(scenario_args "$scenario") --quiet \
        --url "rtmp://127.0.0.1:$port/live" --server-pid "$SERVER_PID" >"$dir/result.json" 2>"$dir/loadgen.log"; then
        say "load generator failed: $(tail -n 3 "$dir/loadgen.log")"
    fi
    after=$(cpu_ticks "$SERVER_PID" 2>/dev/null || echo "$before")
    json=$(jq -c --argjson t "$(( after - before ))" --argjson hz "$CLK_TCK" \
        '. + {server_cpu_total_secs: ($t / $hz)}' "$dir/result.json" 2>/dev/null || echo '{}')
    echo "$json" >"$dir/result.json"
    cleanup; SERVER_PID=""
    echo "$server $scenario $dir/result.json" >>"$OUT_DIR/index"
}

: >"$OUT_DIR/index"
say "machine: $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg) (other work on these CPUs skews the figures)"
for scenario in $SCENARIOS; do
    for server in $SERVERS; do
        case $server in
            openrtmp) reason=${OPENRTMP_REASON} ;;
            nginx) reason=${NGINX_REASON} ;;
            *) die "unknown server $server" ;;
        esac
        if [[ -n $reason ]]; then
            say "skipping $server: $reason"
            continue
        fi
        if ! run_one "$server" "$scenario" && [[ $server == openrtmp ]]; then
            OPENRTMP_REASON="\`openrtmp serve --listen\` is not available yet (see $OUT_DIR/openrtmp-$scenario/stderr.log)"
            say "skipping openrtmp: $OPENRTMP_REASON"
        fi
    done
done

# ---- report -----------------------------------------------------------------------------
[[ -s $OUT_DIR/index ]] || die "nothing ran"
echo
printf '%-9s %-11s %9s %8s %15s %15s %6s %-14s %7s %8s %8s %8s %9s %8s\n' \
    server scenario Mbit/s keep-up "lat p50/p99 ms" "ttff p50/p99" stalls errors cpu_s "cpu_s/Gb" "rss MB" "hwm MB" "KB/conn" "gen cpu"
while read -r server scenario file; do
    jq -r --arg s "$server" --arg sc "$scenario" '
        def f(x; d): if x == null then "-" else (x * pow(10; d) | round) / pow(10; d) | tostring end;
        def mbps: if .mode == "ingest" then .publish_mbps elif .mode == "idle" then null else .delivered_mbps end;
        [$s, $sc, f(mbps; 1),
         (if .players > 0 then "\(.players_keeping_up)/\(.players)" else "-" end),
         "\(f(.latency_ms.p50; 1))/\(f(.latency_ms.p99; 1))",
         "\(f(.ttff_ms.p50; 1))/\(f(.ttff_ms.p99; 1))",
         (.stalls | tostring),
         (if (.errors // {}) == {} then "none" else (.errors | to_entries | map("\(.key)=\(.value)") | join(",")) end),
         f(.server.cpu_secs; 2), f(.server.cpu_secs_per_gbit; 2),
         f(.server.rss_kb_loaded / 1024; 1), f(.server.hwm_kb / 1024; 1),
         (if .mode == "idle" then f(.server.rss_kb_per_connection; 1) else "-" end),
         f(.loadgen.cpu_util; 2)]
        | @tsv' "$file" | awk -F'\t' '{printf "%-9s %-11s %9s %8s %15s %15s %6s %-14s %7s %8s %8s %8s %9s %8s\n", $1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14}'
done <"$OUT_DIR/index"

echo
echo "Ratios openrtmp / nginx (below 1.0: openrtmp uses less / is faster):"
for scenario in $SCENARIOS; do
    a=$OUT_DIR/openrtmp-$scenario/result.json
    b=$OUT_DIR/nginx-$scenario/result.json
    if [[ ! -s $a || ! -s $b ]] || ! grep -q "^openrtmp $scenario " "$OUT_DIR/index" || ! grep -q "^nginx $scenario " "$OUT_DIR/index"; then
        echo "  $scenario: needs both servers"
        continue
    fi
    jq -rn --arg sc "$scenario" --slurpfile a "$a" --slurpfile b "$b" '
        def r(x; y): if x == null or y == null or y == 0 then "-" else ((x / y * 100 | round) / 100 | tostring) end;
        $a[0] as $o | $b[0] as $n |
        "  \($sc): cpu_s/Gbit \(r($o.server.cpu_secs_per_gbit; $n.server.cpu_secs_per_gbit))"
        + "  hwm \(r($o.server.hwm_kb; $n.server.hwm_kb))"
        + "  latency p50 \(r($o.latency_ms.p50; $n.latency_ms.p50)) p99 \(r($o.latency_ms.p99; $n.latency_ms.p99))"
        + (if $o.ttff_ms == null or $n.ttff_ms == null then "" else "  ttff p50 \($o.ttff_ms.p50) vs \($n.ttff_ms.p50) ms" end)
        + (if $o.mode == "idle" then "  KB/conn \(r($o.server.rss_kb_per_connection; $n.server.rss_kb_per_connection))" else "" end)'
done
echo
say "results in $OUT_DIR"

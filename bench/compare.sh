#!/usr/bin/env bash
# Side-by-side load test on loopback: OpenRTMP (`openrtmp serve`) vs nginx-rtmp.
#
# Each scenario starts a fresh server pinned to CPU $SERVER_CPU and runs the load generator
# (crates/openrtmp-bench, example `loadgen`) pinned to CPU $LOADGEN_CPU against it. The load
# generator reads the server's CPU time (utime+stime of /proc/PID/stat) at the start and end of
# its measured window and its memory (VmRSS/VmHWM of /proc/PID/status), via --server-pid, and
# the kernel's interrupt work on CPU $SERVER_CPU (/proc/stat softirq, ksoftirqd), via
# --server-cpu; this script also reads the server's CPU time before and after the whole
# scenario. Results: one JSON file per run in $OUT_DIR, a table and the OpenRTMP/nginx ratios
# on stdout.
#
# The `curve` scenario (not in the default list) is the latency/CPU curve of issue 11: 1000
# players of one 3 Mbit/s stream, for each of $RUNS runs: OpenRTMP once per --max-batch value
# in $POINTS, then nginx-rtmp once (it has no such setting). It prints one row per run and
# point, then each point's range over the runs.
#
# Usage: bench/compare.sh            (the default scenarios, both servers)
#        SCENARIOS=curve bench/compare.sh
# Environment (all optional):
#   SCENARIOS="fanout100 fanout1000 ingest idle1000"   which scenarios, in order (or curve)
#   SERVERS="openrtmp nginx"                            which servers
#   SERVER_CPU=0 LOADGEN_CPU=1                          CPU pinning (taskset)
#   POINTS="0 50ms 100ms 350ms"  curve: the `openrtmp serve --max-batch` values
#   RUNS=2                       curve: runs (each runs every point, then nginx)
#   EXTRA_ARGS="..."             more flags for `openrtmp serve` (every scenario)
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
POINTS=${POINTS:-"0 50ms 100ms 350ms"}
RUNS=${RUNS:-2}
EXTRA_ARGS=${EXTRA_ARGS:-}
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
        curve) scenario_args fanout1000 ;;
        *) die "unknown scenario $1" ;;
    esac
}

# ---- binaries ---------------------------------------------------------------------------
# Cargo without this script's OUT_DIR: build scripts read OUT_DIR (ring's tracks it), so an
# OUT_DIR from the caller's environment would make every run rebuild half the tree.
build() { (cd "$ROOT" && env -u OUT_DIR cargo build --release -q "$@"); }
if [[ -z ${LOADGEN_BIN:-} ]]; then
    say "building the load generator (cargo build --release -p openrtmp-bench --example loadgen)"
    build -p openrtmp-bench --example loadgen || die "load generator build failed"
    LOADGEN_BIN=$TARGET/release/examples/loadgen
fi

OPENRTMP_REASON=""
if [[ " $SERVERS " == *" openrtmp "* && -z ${OPENRTMP_BIN:-} ]]; then
    say "building openrtmp (cargo build --release -p openrtmp-cli)"
    if build -p openrtmp-cli; then
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

# Flags for `openrtmp serve` in the current run (the curve's --max-batch).
OPENRTMP_ARGS=()
start_openrtmp() { # dir port
    # The script's own settings are not the server's configuration (OPENRTMP_* is read as such).
    # shellcheck disable=SC2086
    env -u OPENRTMP_BIN taskset -c "$SERVER_CPU" "$OPENRTMP_BIN" serve --log warn --listen "127.0.0.1:$2" \
        "${OPENRTMP_ARGS[@]}" $EXTRA_ARGS >"$1/stdout.log" 2>"$1/stderr.log" &
    SERVER_PID=$!
}

cpu_ticks() { sed 's/.*) //' "/proc/$1/stat" | awk '{print $12 + $13}'; }

# ---- runs -------------------------------------------------------------------------------
# Runs one server through one scenario: results in $OUT_DIR/$3/result.json, with the JSON
# object $4 and the load average at the start merged in; listed as "$server $scenario FILE"
# in $OUT_DIR/index, or as "$server $5 FILE" in $OUT_DIR/curve_index when $5 (the curve's
# "point run") is given. Fails only when the server does not start.
run_one() { # server scenario name extra-json [point-and-run]
    local server=$1 scenario=$2 dir port before after json load
    dir=$OUT_DIR/$3
    mkdir -p "$dir"
    port=$(free_port)
    load=$(cut -d' ' -f1-3 /proc/loadavg)
    "start_$server" "$dir" "$port"
    if ! wait_listening "$port"; then
        say "$server did not start listening on 127.0.0.1:$port; its stderr:"
        tail -n 5 "$dir/stderr.log" >&2 || true
        cleanup; SERVER_PID=""
        return 1
    fi
    before=$(cpu_ticks "$SERVER_PID")
    say "$server / $3 (load average $load): $(scenario_args "$scenario")"
    # shellcheck disable=SC2046
    if ! taskset -c "$LOADGEN_CPU" "$LOADGEN_BIN" $(scenario_args "$scenario") --quiet \
        --url "rtmp://127.0.0.1:$port/live" --server-pid "$SERVER_PID" --server-cpu "$SERVER_CPU" \
        >"$dir/result.json" 2>"$dir/loadgen.log"; then
        say "load generator failed: $(tail -n 3 "$dir/loadgen.log")"
    fi
    after=$(cpu_ticks "$SERVER_PID" 2>/dev/null || echo "$before")
    json=$(jq -c --argjson t "$(( after - before ))" --argjson hz "$CLK_TCK" --arg load "$load" \
        --argjson extra "$4" '. + {server_cpu_total_secs: ($t / $hz), loadavg: $load} + $extra' \
        "$dir/result.json" 2>/dev/null || echo '{}')
    echo "$json" >"$dir/result.json"
    cleanup; SERVER_PID=""
    if [[ -n ${5:-} ]]; then
        echo "$server $5 $dir/result.json" >>"$OUT_DIR/curve_index"
    else
        echo "$server $scenario $dir/result.json" >>"$OUT_DIR/index"
    fi
}

# Why a server cannot run (empty: it can).
reason_for() {
    case $1 in
        openrtmp) echo "$OPENRTMP_REASON" ;;
        nginx) echo "$NGINX_REASON" ;;
        *) echo "unknown server $1" ;;
    esac
}

# The curve: each run runs every point on OpenRTMP, then nginx-rtmp once, so both servers
# see the same machine load within a run.
run_curve() {
    local run point extra
    for server in $SERVERS; do
        [[ -z $(reason_for "$server") ]] || say "skipping $server: $(reason_for "$server")"
    done
    for (( run = 1; run <= RUNS; run++ )); do
        if [[ " $SERVERS " == *" openrtmp "* ]]; then
            for point in $POINTS; do
                [[ -z $OPENRTMP_REASON ]] || break
                extra=$(jq -nc --arg p "$point" --argjson r "$run" '{point: $p, run: $r}')
                OPENRTMP_ARGS=(--max-batch "$point")
                if ! run_one openrtmp curve "openrtmp-curve-$point-run$run" "$extra" "$point $run"; then
                    OPENRTMP_REASON="\`openrtmp serve --max-batch $point\` did not start (see $OUT_DIR/openrtmp-curve-$point-run$run/stderr.log)"
                    say "skipping openrtmp: $OPENRTMP_REASON"
                fi
                OPENRTMP_ARGS=()
            done
        fi
        if [[ " $SERVERS " == *" nginx "* && -z $NGINX_REASON ]]; then
            extra=$(jq -nc --argjson r "$run" '{point: "default", run: $r}')
            run_one nginx curve "nginx-curve-run$run" "$extra" "default $run" || say "nginx did not start"
        fi
    done
}

: >"$OUT_DIR/index"
: >"$OUT_DIR/curve_index"
say "machine: $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg) (other work on these CPUs skews the figures)"
for scenario in $SCENARIOS; do
    if [[ $scenario == curve ]]; then
        run_curve
        continue
    fi
    for server in $SERVERS; do
        case $server in
            openrtmp | nginx) reason=$(reason_for "$server") ;;
            *) die "unknown server $server" ;;
        esac
        if [[ -n $reason ]]; then
            say "skipping $server: $reason"
            continue
        fi
        if ! run_one "$server" "$scenario" "$server-$scenario" '{}' && [[ $server == openrtmp ]]; then
            OPENRTMP_REASON="\`openrtmp serve --listen\` is not available yet (see $OUT_DIR/openrtmp-$scenario/stderr.log)"
            say "skipping openrtmp: $OPENRTMP_REASON"
        fi
    done
done

# ---- report -----------------------------------------------------------------------------
# The scenario table and the openrtmp / nginx ratios.
report_scenarios() {
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
        [[ $scenario != curve ]] || continue
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
}

# The curve: one row per run and point, then each point's range over the runs.
report_curve() {
    # cpu_s/Gb: the server process; +softirq: with the kernel's interrupt work on its CPU
    # that the process was not charged for (bench/README.md).
    echo
    echo "Curve: 1 publisher at 3 Mbit/s, 1000 players; openrtmp point = --max-batch (server CPU $SERVER_CPU, interrupt time accounting: $(jq -r '.server.irq_accounting // "unknown"' "$(head -n1 "$OUT_DIR/curve_index" | cut -d' ' -f4)"))"
    printf '%-9s %-7s %3s %8s %9s %9s %9s %15s %9s %-14s %7s %7s %8s %14s\n' \
        server point run Mbit/s keep-up "cpu_s/Gb" "+softirq" "lat p50/p99 ms" "ttff p50" errors "rss MB" "hwm MB" "gen cpu" "load avg"
    while read -r server point run file; do
        jq -r --arg s "$server" --arg p "$point" --arg r "$run" '
            def f(x; d): if x == null then "-" else (x * pow(10; d) | round) / pow(10; d) | tostring end;
            [$s, $p, $r, f(.delivered_mbps; 1),
             (if .players > 0 then "\(.players_keeping_up)/\(.players)" else "-" end),
             f(.server.cpu_secs_per_gbit; 3), f(.server.cpu_secs_per_gbit_with_softirq; 3),
             "\(f(.latency_ms.p50; 1))/\(f(.latency_ms.p99; 1))",
             f(.ttff_ms.p50; 1),
             (if (.errors // {}) == {} then "none" else (.errors | to_entries | map("\(.key)=\(.value)") | join(",")) end),
             f(.server.rss_kb_loaded / 1024; 1), f(.server.hwm_kb / 1024; 1),
             f(.loadgen.cpu_util; 2), (.loadavg // "-" | split(" ") | join("/"))]
            | @tsv' "$file" | awk -F'\t' '{printf "%-9s %-7s %3s %8s %9s %9s %9s %15s %9s %-14s %7s %7s %8s %14s\n", $1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14}'
    done <"$OUT_DIR/curve_index"

    # Each point over its runs: the range (min-max), as in the issue's tables.
    echo
    echo "Curve by point (min-max over $RUNS runs):"
    printf '%-9s %-7s %13s %13s %13s %13s %11s %9s\n' \
        server point "cpu_s/Gb" "+softirq" "lat p50 ms" "lat p99 ms" "ttff p50" keep-up
    cut -d' ' -f1,2 "$OUT_DIR/curve_index" | awk '!seen[$0]++' | while read -r server point; do
        # shellcheck disable=SC2046
        jq -rs --arg s "$server" --arg p "$point" '
            def f(x; d): (x * pow(10; d) | round) / pow(10; d) | tostring;
            def span(xs; d): (xs | map(select(. != null))) as $v
                | if ($v | length) == 0 then "-" elif ($v | min) == ($v | max) then f($v[0]; d)
                  else "\(f($v | min; d))-\(f($v | max; d))" end;
            [$s, $p, span(map(.server.cpu_secs_per_gbit); 3), span(map(.server.cpu_secs_per_gbit_with_softirq); 3),
             span(map(.latency_ms.p50); 1), span(map(.latency_ms.p99); 1), span(map(.ttff_ms.p50); 1),
             (map(.players_keeping_up // 0) | min | tostring) + "/" + (map(.players // 0) | max | tostring)]
            | @tsv' $(awk -v s="$server" -v p="$point" '$1 == s && $2 == p {print $4}' "$OUT_DIR/curve_index") \
            | awk -F'\t' '{printf "%-9s %-7s %13s %13s %13s %13s %11s %9s\n", $1,$2,$3,$4,$5,$6,$7,$8}'
    done
}

[[ -s $OUT_DIR/index || -s $OUT_DIR/curve_index ]] || die "nothing ran"
[[ ! -s $OUT_DIR/index ]] || report_scenarios
[[ ! -s $OUT_DIR/curve_index ]] || report_curve
echo
say "results in $OUT_DIR"

#!/usr/bin/env bash
# What RTMPS costs the server: one FFmpeg publisher -> N FFmpeg players of a ~3 Mbit/s stream,
# over RTMP, then over RTMPS (TLS verified against a dev certificate). Server pinned to CPU 0,
# FFmpeg to CPU 1; server CPU from /proc, bytes delivered from the API.
# Usage (after cargo build --release):
#   N=60 FFMPEG_CURRENT=/path/to/tls/ffmpeg INPUT=stream.flv bench/rtmps_cost.sh
set -u
B=${OPENRTMP:-target/release/openrtmp}
FF=${FFMPEG_CURRENT:?set FFMPEG_CURRENT to a TLS-enabled ffmpeg (pip install imageio-ffmpeg)}
IN=${INPUT:?set INPUT to a ~3 Mbit/s H.264/AAC FLV}
N=${N:-20}
CERTS=${CERTS:-/tmp/openrtmp-rtmps-cost}
[ -f "$CERTS/cert.pem" ] || "$B" cert dev --out "$CERTS" >/dev/null
for scheme in rtmp rtmps; do
  OPENRTMP_LOG__LEVEL=warn taskset -c 0 "$B" serve --listen 127.0.0.1:19550 \
    --rtmps-listen 127.0.0.1:19551 --tls-cert "$CERTS/cert.pem" --tls-key "$CERTS/key.pem" \
    --api-listen 127.0.0.1:19552 2>/dev/null &
  server=$!
  sleep 0.5
  if [ "$scheme" = rtmp ]; then
    url=rtmp://127.0.0.1:19550/live/b; tls=()
  else
    url=rtmps://localhost:19551/live/b; tls=(-ca_file "$CERTS/cert.pem")
  fi
  for _ in $(seq "$N"); do
    taskset -c 1 "$FF" -hide_banner -loglevel error "${tls[@]}" -i "$url" -c copy -f null - &
  done
  sleep 1
  t0=$(awk '{print $14+$15}' "/proc/$server/stat")
  taskset -c 1 "$FF" -hide_banner -loglevel error -re -stream_loop 4 -i "$IN" -c copy -f flv \
    "${tls[@]}" "$url"
  sleep 1
  t1=$(awk '{print $14+$15}' "/proc/$server/stat")
  bytes=$(curl -s 127.0.0.1:19552/api/v1/server \
    | python3 -c 'import json,sys; print(json.load(sys.stdin)["bytes_out"])')
  kill "$server"; wait 2>/dev/null
  python3 -c "t=($t1-$t0)/100; g=$bytes*8/1e9; print(f'$scheme players=$N server_cpu_s={t:.2f} delivered_gbit={g:.3f} cpu_s_per_gbit={t/g:.3f}')"
done

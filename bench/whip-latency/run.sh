#!/bin/bash
# Needs: a release build, Debian chromium + chromedriver, ffmpeg, python3, curl, bc.
# Glass-to-target latency and server CPU of one WHIP stream (Chromium canvas -> WHIP ->
# OpenRTMP origin -> RTMP push -> second OpenRTMP -> FFmpeg decode).
set -u
cd "$(dirname "$0")"
BIN=${OPENRTMP:-../../target/release/openrtmp}   # cargo build --release first
D=$(mktemp -d)
cat > $D/origin.yaml <<Y
listen: [127.0.0.1:19350]
api: {listen: "127.0.0.1:18080"}
webrtc: {udp_port: 18189, tcp_port: 18189}
Y
cat > $D/target.yaml <<Y
listen: [127.0.0.1:19360]
webrtc: {enabled: false}
Y
$BIN serve --config $D/origin.yaml > $D/origin.log 2>&1 & O=$!
$BIN serve --config $D/target.yaml --no-api > $D/target.log 2>&1 & T=$!
python3 -m http.server 18900 --bind 127.0.0.1 > /dev/null 2>&1 & H=$!
chromedriver --port=9777 > /dev/null 2>&1 & C=$!
for i in $(seq 50); do curl -s localhost:9777/status >/dev/null && break; sleep 0.2; done
curl -s -X POST -H 'Content-Type: application/json' -d '{"url":"rtmp://127.0.0.1:19360/live/lat"}' http://127.0.0.1:18080/api/v1/streams/live/lat/targets; echo
python3 - <<P &
import json, time, urllib.request
B='http://localhost:9777'
def req(m,p,b=None):
    d=json.dumps(b).encode() if b is not None else None
    return json.load(urllib.request.urlopen(urllib.request.Request(B+p,data=d,method=m,headers={'Content-Type':'application/json'}),timeout=60))
args=['--headless=new','--no-sandbox','--autoplay-policy=no-user-gesture-required']
s=req('POST','/session',{'capabilities':{'alwaysMatch':{'browserName':'chrome','goog:chromeOptions':{'binary':'/usr/bin/chromium','args':args}}}})
sid=s['value']['sessionId']
req('POST',f'/session/{sid}/url',{'url':'http://127.0.0.1:18900/page.html?whip=http://127.0.0.1:18080/whip/live/lat&key=any'})
time.sleep(40)
print(req('POST',f'/session/{sid}/execute/sync',{'script':'return window.result','args':[]})['value'])
req('DELETE',f'/session/{sid}')
P
PY=$!
sleep 12
cpu() { awk '{print $14+$15}' /proc/$O/stat; }
c0=$(cpu); t0=$(date +%s.%N)
timeout 22 ffmpeg -nostdin -loglevel error -fflags nobuffer -flags low_delay -i rtmp://127.0.0.1:19360/live/lat -an -f rawvideo -pix_fmt gray -s 640x360 - | python3 measure.py
c1=$(cpu); t1=$(date +%s.%N)
echo "origin CPU: $(echo "($c1-$c0)/100" | bc -l | cut -c1-5) s in $(echo "$t1-$t0" | bc | cut -c1-5) s; RSS $(grep VmRSS /proc/$O/status)"
curl -s http://127.0.0.1:18080/api/v1/streams/live/lat | head -c 600; echo
wait $PY; kill $O $T $H $C 2>/dev/null; wait 2>/dev/null
grep -ciE "warn|error" $D/origin.log; grep -iE "warn|error" $D/origin.log | head -5

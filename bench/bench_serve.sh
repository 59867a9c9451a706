#!/usr/bin/env bash
# bench_serve.sh: how fast `dpstatus serve` answers SetTaskStatus over h2c, side by side in one
# run with nghttpd (nghttp2's own server) answering a static file of the same size: same h2load
# (-c connections x -m streams, -n requests, one h2load thread), median of 3 runs each. Then the
# same with --auth sigv4, with one request signed by `dpstatus send --dry-run` at a fixed
# X-Amz-Date (valid for the 5-minute window) replayed by h2load.
#
# h2load sends one fixed body, so every request reports the same taskId and status: the emulator
# runs in --tasks auto mode, where a repeat of the same final status is accepted (retries are
# at-least-once), so all of them are 200s.
#
# Not a ctest test (timing on a shared 2-core machine). Run after building:
#   bench/bench_serve.sh [path/to/dpstatus]      (default build/dpstatus)
#   N=200000 C=4 M=32 RUNS=3 bench/bench_serve.sh
# Needs h2load (nghttp2-client) and nghttpd (nghttp2-server): scripts/test installs both.
# Targets: >= 50% of nghttpd's req/s with --auth none, >= 30% with --auth sigv4.
set -euo pipefail
cd "$(dirname "$0")/.."
DPS=${1:-build/dpstatus}
N=${N:-200000}
C=${C:-4}
M=${M:-32}
RUNS=${RUNS:-3}
H2LOAD=$(command -v h2load || true)
NGHTTPD=$(command -v nghttpd || echo /usr/sbin/nghttpd)
[ -x "$DPS" ] || { echo "bench_serve: no dpstatus at $DPS (build first)" >&2; exit 2; }
[ -n "$H2LOAD" ] && [ -x "$NGHTTPD" ] || { echo "bench_serve: needs h2load and nghttpd" >&2; exit 2; }

BENCH=bench_serve
# shellcheck source=bench/lib.sh
. bench/lib.sh

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# One h2load run; prints its req/s. Bounded: -n requests and a 120 s timeout.
h2rate() { # url h2load-args...
  local url=$1
  shift
  local out
  out=$(timeout 120 "$H2LOAD" -t 1 -n "$N" -c "$C" -m "$M" "$@" "$url" 2>&1)
  if ! grep -q "$N succeeded" <<<"$out"; then
    echo "bench_serve: not every request succeeded against $url:" >&2
    grep -E "requests:|status codes" <<<"$out" >&2
  fi
  sed -n 's/^finished in .*, \([0-9.]*\) req\/s.*/\1/p' <<<"$out"
}

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

# The SetTaskStatus body, and a static file of the same size for nghttpd.
body='{"taskId":"bench-task-0001","taskStatus":"FINISHED"}'
printf '%s' "$body" >"$work/body.json"
mkdir -p "$work/htdocs"
printf '%s' "$body" >"$work/htdocs/static.json"

ngport=$(free_port)
"$NGHTTPD" --no-tls -d "$work/htdocs" "$ngport" >/dev/null 2>&1 &
pids+=($!)
sleep 0.3

start_serve --auth none
none_port=$SERVE_PORT

AK=AKIDBENCHSERVE SK=bench-serve-secret
start_serve --auth sigv4 --access-key "$AK" --secret-key "$SK" --region us-east-1
sig_port=$SERVE_PORT
# Sign once, now; h2load replays the same request (same body, same signature) N times.
signed=$(env -u AWS_SESSION_TOKEN -u AWS_PROFILE AWS_ACCESS_KEY_ID=$AK AWS_SECRET_ACCESS_KEY=$SK \
  AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null \
  "$DPS" send --region us-east-1 --task-id bench-task-0001 --task-status FINISHED \
  --endpoint-url "http://127.0.0.1:$sig_port" --signing-time "$(date -u +%Y%m%dT%H%M%SZ)" --dry-run)
printf '%s' "$(sed -n '/^\r\{0,1\}$/,$p' <<<"$signed" | sed '1d')" >"$work/signed.json"
sig_headers=()
while IFS= read -r line; do
  line=${line%$'\r'}
  case "$line" in
    X-Amz-Date:* | Authorization:* | X-Amz-Target:* | Content-Type:*) sig_headers+=(-H "$line") ;;
  esac
done < <(sed '/^\r\{0,1\}$/q' <<<"$signed")

common=(-H "x-amz-target: DataPipeline.SetTaskStatus" -H "content-type: application/x-amz-json-1.1")
declare -a r_ng r_none r_sig
for i in $(seq "$RUNS"); do
  r_ng+=("$(h2rate "http://127.0.0.1:$ngport/static.json" -d "$work/body.json")")
  r_none+=("$(h2rate "http://127.0.0.1:$none_port/" -d "$work/body.json" "${common[@]}")")
  r_sig+=("$(h2rate "http://127.0.0.1:$sig_port/" -d "$work/signed.json" "${sig_headers[@]}")")
done
ng=$(printf '%s\n' "${r_ng[@]}" | median)
none=$(printf '%s\n' "${r_none[@]}" | median)
sig=$(printf '%s\n' "${r_sig[@]}" | median)
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.0f%%", 100 * a / b; else print "n/a" }'; }

echo
echo "h2load -t 1 -n $N -c $C -m $M, body ${#body} bytes, median of $RUNS (req/s)"
echo
echo "| server | req/s (median) | runs | vs nghttpd | target |"
echo "|---|---:|---|---:|---:|"
echo "| nghttpd static file (POST, same size) | $ng | ${r_ng[*]} | 100% | |"
echo "| dpstatus serve --auth none | $none | ${r_none[*]} | $(ratio "$none" "$ng") | 50% |"
echo "| dpstatus serve --auth sigv4 | $sig | ${r_sig[*]} | $(ratio "$sig" "$ng") | 30% |"

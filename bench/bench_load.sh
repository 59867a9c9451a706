#!/usr/bin/env bash
# bench_load.sh: `dpstatus load --rate max` (the closed model) against `dpstatus serve --auth none`,
# side by side in one run with h2load at the same connections x streams (C x M), median of RUNS
# runs each, interleaved (the order alternates run to run), h2c, one emulator started once:
#   - dpstatus load --rate max --connections C --max-streams M --concurrency C*M --count N --json:
#     every update generated, signed (the library signs even when the emulator checks nothing:
#     that is its real cost, as in bench_e2e.sh) and timed; its own p50/p99/p99.9/max;
#   - h2load -t 1 -c C -m M -n N: the same 55-byte SetTaskStatus body and headers as
#     bench_e2e.sh's ceiling (content-type, x-amz-target, no signature); h2load reports no
#     percentiles, only min/max/mean of "time for request", shown for reference;
#   - for reference, dpstatus load with --concurrency DEEP (default 10*C*M): the queue kept
#     ahead of the streams, so the closed loop's hand-off (result -> scheduler -> submit ->
#     sender) is off the critical path; and h2load adding a signed request's headers (a 218-byte
#     Authorization, which HPACK never indexes, x-amz-date, user-agent; bench_e2e.sh's), to show
#     the emulator's share of a signed request's cost.
# The emulator's CPU time (utime+stime from /proc) is read around each run, and each client's
# from /usr/bin/time, as microseconds per request: where the two cores go.
# Percentiles are checked: every run answered N of N with 200, min <= p50 <= p90 <= p99 <= p99.9
# <= max (each run and the exact merge of the runs' histograms, `dpstatus load --merge`); then
# one extra run against a second emulator with `--fault latency=5..5` (every answer held 5 ms):
# p50 must be within 5-7 ms, min >= 5 ms, and within 1 ms of h2load's mean against it.
#
# Not a ctest test (timing on a shared 2-core machine). Usage:
#   bench/bench_load.sh [build-dir]       (default build; configured and built here as needed)
#   bench/bench_load.sh path/to/dpstatus  (that binary, as it is: nothing built)
#   N=200000 C=2 M=100 RUNS=3 DEEP=2000 LAT_N=20000 bench/bench_load.sh /tmp/build-bench
# Installs what it needs if missing (nghttp2-client, jq, time), quietly. Target: dpstatus load
# >= 70% of h2load's req/s.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${1:-build}
N=${N:-200000}
C=${C:-2}
M=${M:-100}
RUNS=${RUNS:-3}
CONC=$((C * M))
DEEP=${DEEP:-$((10 * C * M))}
LAT_N=${LAT_N:-20000}

pkgs=(nghttp2-client jq time)
scripts/ensure-packages bench_load "${pkgs[@]}"
if [ -f "$BUILD" ] && [ -x "$BUILD" ]; then
  DPS=$BUILD # a dpstatus binary, used as it is
else
  [ -f "$BUILD/CMakeCache.txt" ] || cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DDPS_WERROR=ON >/dev/null
  cmake --build "$BUILD" -j"$(nproc)" --target dpstatus >/dev/null
  DPS=$BUILD/dpstatus
fi

# The emulator checks nothing (--auth none), but the library signs every request: any key will do.
export AWS_ACCESS_KEY_ID=AKIDBENCHLOAD AWS_SECRET_ACCESS_KEY=bench-load-secret AWS_REGION=us-east-1
unset AWS_PROFILE AWS_SESSION_TOKEN

BENCH=bench_load
# shellcheck source=bench/lib.sh
. bench/lib.sh

start_serve --auth none
URL=http://127.0.0.1:$SERVE_PORT
PID=$SERVE_PID

body='{"taskId":"bench-task-0000000","taskStatus":"FINISHED"}' # bench_e2e.sh's body
printf '%s' "$body" >"$work/body.json"
plain=(-H "content-type: application/x-amz-json-1.1" -H "x-amz-target: DataPipeline.SetTaskStatus")
sig=$(printf 'x' | sha256sum | cut -c1-64) # bench_e2e.sh's signed request's headers
signed=("${plain[@]}" -H "x-amz-date: 20261124T120000Z" -H "user-agent: dpstatus/0.1.0"
  -H "authorization: AWS4-HMAC-SHA256 Credential=AKIDBENCHE2E/20261124/us-east-1/datapipeline/aws4_request, SignedHeaders=content-type;host;x-amz-date;x-amz-target, Signature=$sig")

note() { echo "$*" >>"$work/notes"; }
ticks() { awk '{print $14 + $15}' "/proc/$PID/stat"; } # the emulator's utime+stime
HZ=$(getconf CLK_TCK)
usper() { awk -v t="$1" -v hz="$HZ" -v n="$2" 'BEGIN { printf "%.2f", t / hz * 1e6 / n }'; } # ticks n
cpuper() { awk -v n="$2" '{ printf "%.2f", ($1 + $2) * 1e6 / n }' "$1"; }                   # file n
ms() { # h2load's "433us" / "9.08ms" / "1.2s" -> ms
  awk -v v="$1" 'BEGIN { u = v; sub(/^[0-9.]+/, "", u); x = v + 0;
    if (u == "us") x /= 1000; else if (u == "s") x *= 1000; printf "%.3f", x }'
}

declare -A R # R[key]="run1 run2 run3"
add() { R[$1]="${R[$1]:-} $2"; }

h2run() { # key run-index header-args...
  local key=$1 run=$2 out t0 t1 tfr
  shift 2
  t0=$(ticks)
  out=$(timeout 120 /usr/bin/time -f '%U %S' -o "$work/h2.time" \
    h2load -t 1 -n "$N" -c "$C" -m "$M" -d "$work/body.json" "$@" "$URL/" 2>&1) || true
  t1=$(ticks)
  grep -q "$N succeeded" <<<"$out" || note "h2load $key run $run: $(grep -E 'requests:' <<<"$out")"
  add "$key.rate" "$(sed -n 's/^finished in .*, \([0-9.]*\) req\/s.*/\1/p' <<<"$out")"
  tfr=$(grep '^time for request:' <<<"$out" || true) # min max mean sd +/-sd
  if [ -n "$tfr" ]; then
    read -r _ _ _ tmin tmax tmean _ <<<"$tfr"
    add "$key.min" "$(ms "$tmin")"; add "$key.max" "$(ms "$tmax")"; add "$key.mean" "$(ms "$tmean")"
  fi
  add "$key.srv" "$(usper $((t1 - t0)) "$N")"
  add "$key.cli" "$(cpuper "$work/h2.time" "$N")"
}
loadrun() { # key concurrency json url
  local t0 t1 rc=0
  t0=$(ticks)
  timeout 120 /usr/bin/time -f '%U %S' -o "$work/load.time" \
    "$DPS" load --endpoint-url "$4" --rate max --connections "$C" --max-streams "$M" \
    --concurrency "$2" --count "$N" --json "$3" 2>"$work/load.err" || rc=$?
  t1=$(ticks)
  if [ "$rc" -ne 0 ] || [ ! -s "$3" ]; then
    note "dpstatus load $1 (concurrency $2): exit $rc: $(tr '\n' ' ' <<<"$(cat "$work/load.err")")"
    add "$1.rate" fail
    return
  fi
  [ "$(jq '.requests == .ok and .ok == '"$N" "$3")" = true ] ||
    note "dpstatus load $1: $(jq -c '{requests, ok, errors}' "$3")"
  add "$1.rate" "$(jq '.achievedRate' "$3")"
  for p in p50 p99 p999 max; do add "$1.$p" "$(jq ".latencyMs.$p" "$3")"; done
  add "$1.srv" "$(usper $((t1 - t0)) "$N")"
  add "$1.cli" "$(cpuper "$work/load.time" "$N")"
}
# min <= p50 <= p90 <= p99 <= p99.9 <= max, for both latency sets: prints "ok" or what is wrong.
sane() {
  jq -r '[.latencyMs, .uncorrectedLatencyMs] | map([.min, .p50, .p90, .p99, .p999, .max]) |
    map(. as $a | [range(1; length)] | all($a[. - 1] <= $a[.])) |
    if all then "ok" else "not monotonic: \(.)" end' "$1"
}

echo "bench_load: $RUNS interleaved runs, N=$N, $C connections x $M streams, concurrency $CONC (and $DEEP), h2c..." >&2
for i in $(seq "$RUNS"); do
  if [ $((i % 2)) -eq 1 ]; then
    h2run h2 "$i" "${plain[@]}"; loadrun load "$CONC" "$work/load.$i.json" "$URL"
  else
    loadrun load "$CONC" "$work/load.$i.json" "$URL"; h2run h2 "$i" "${plain[@]}"
  fi
  loadrun deep "$DEEP" "$work/deep.$i.json" "$URL"
  h2run h2signed "$i" "${signed[@]}"
done

# Percentile checks: each run, the exact merge of the runs, and the emulator's fixed 5 ms.
checks=""
for f in "$work"/load.*.json; do
  [ -s "$f" ] && s=$(sane "$f") && [ "$s" != ok ] && checks+="$(basename "$f"): $s; "
done
merged=""
mapfile -t lj < <(ls "$work"/load.*.json 2>/dev/null)
if [ ${#lj[@]} -gt 0 ] && "$DPS" load --merge "${lj[@]}" --json "$work/merged.json" >/dev/null 2>&1; then
  merged=$(jq -r '.latencyMs | "\(.min) \(.p50) \(.p90) \(.p99) \(.p999) \(.max)"' "$work/merged.json")
  s=$(sane "$work/merged.json"); [ "$s" = ok ] || checks+="merged: $s; "
fi
# The emulator's base asks libevent for precise timers (emulator/server.c, dps__emu_base_new):
# with libevent 2.1's default CLOCK_MONOTONIC_COARSE (4 ms at HZ=250) a 5 ms hold would last 5-9 ms.
start_serve --auth none --fault latency=5..5
LAT_URL=http://127.0.0.1:$SERVE_PORT
lat=""
if N=$LAT_N loadrun lat "$CONC" "$work/lat.json" "$LAT_URL" && [ -s "$work/lat.json" ]; then
  lat=$(jq -r '.latencyMs | "\(.min) \(.p50) \(.p99) \(.max)"' "$work/lat.json")
  s=$(sane "$work/lat.json"); [ "$s" = ok ] || checks+="latency=5..5: $s; "
  read -r lmin lp50 _ _ <<<"$lat"
  awk -v p="$lp50" 'BEGIN { exit !(p >= 5 && p <= 7) }' || checks+="latency=5..5: p50 $lp50 ms not within 5-7 ms; "
  awk -v m="$lmin" 'BEGIN { exit !(m >= 5) }' || checks+="latency=5..5: min $lmin ms below the 5 ms floor; "
  lh2=$(timeout 60 h2load -t 1 -n "$LAT_N" -c "$C" -m "$M" -d "$work/body.json" "${plain[@]}" "$LAT_URL/" 2>&1 |
    grep '^time for request:' || true)
  # The emulator's own timing (its timers) is not ours: dpstatus load's p50 must also agree with
  # h2load's mean against the same emulator, within 1 ms.
  read -r _ _ _ _ _ lh2mean _ <<<"${lh2:-x x x x x x}"
  lh2mean=$(ms "$lh2mean")
  awk -v p="$lp50" -v h="$lh2mean" 'BEGIN { d = p - h; exit !(h > 0 && d <= 1 && d >= -1) }' ||
    checks+="latency=5..5: p50 $lp50 ms vs h2load mean $lh2mean ms, more than 1 ms apart; "
fi

median() { { grep -E '^[0-9.]+$' || true; } | sort -n | awk '{a[NR]=$1} END {if (NR) print a[int((NR+1)/2)]; else print "fail"}'; }
med() { tr ' ' '\n' <<<"${R[$1]:-}" | median; }
runs() { sed 's/^ //' <<<"${R[$1]:-}"; }
fmt() { [[ $1 =~ ^[0-9.]+$ ]] && printf "%.0f" "$1" | sed ':a;s/\B[0-9]\{3\}\>/,&/;ta' || echo "$1"; }
pct() { awk -v a="$1" -v b="$2" 'BEGIN { if (a ~ /^[0-9.]+$/ && b ~ /^[0-9.]+$/ && b > 0) printf "%.0f%%", 100 * a / b; else print "n/a" }'; }
verdict() { awk -v r="$1" -v t="$2" 'BEGIN { v = r; sub(/%$/, "", v); if (r == "n/a") print "n/a"; else if (v + 0 >= t) print "met"; else print "**missed**" }'; }

lr=$(med load.rate) dr=$(med deep.rate) hr=$(med h2.rate)
ratio=$(pct "$lr" "$hr") dratio=$(pct "$dr" "$hr")
echo
echo "\`dpstatus load --rate max\` against \`dpstatus serve --auth none\` (h2c), $C connections x $M"
echo "streams, N=$N updates (55-byte body) per run, median of $RUNS interleaved runs; latency in ms"
echo "(dpstatus load: its own percentiles, corrected = uncorrected in the closed model; h2load: its"
echo "\"time for request\" mean and max); CPU in µs per request (client: user+sys; emulator: its"
echo "utime+stime over the run)."
echo
echo "| client | req/s | vs h2load | target | p50 | p99 | p99.9 | max | CPU client | CPU emulator |"
echo "|---|---:|---:|---|---:|---:|---:|---:|---:|---:|"
echo "| h2load -t 1 -c $C -m $M (no signature) | $(fmt "$hr") | 100% | | mean $(med h2.mean) | | | $(med h2.max) | $(med h2.cli) | $(med h2.srv) |"
echo "| **dpstatus load --concurrency $CONC** | **$(fmt "$lr")** | **$ratio** | ≥ 70%: $(verdict "$ratio" 70) | $(med load.p50) | $(med load.p99) | $(med load.p999) | $(med load.max) | $(med load.cli) | $(med load.srv) |"
echo "| h2load + a signed request's headers (reference) | $(fmt "$(med h2signed.rate)") | $(pct "$(med h2signed.rate)" "$hr") | | mean $(med h2signed.mean) | | | $(med h2signed.max) | $(med h2signed.cli) | $(med h2signed.srv) |"
echo "| dpstatus load --concurrency $DEEP (reference) | $(fmt "$dr") | $dratio | | $(med deep.p50) | $(med deep.p99) | $(med deep.p999) | $(med deep.max) | $(med deep.cli) | $(med deep.srv) |"
echo
echo "Runs (req/s): h2load: $(runs h2.rate); h2load signed: $(runs h2signed.rate); dpstatus load: $(runs load.rate); --concurrency $DEEP: $(runs deep.rate)."
echo "dpstatus load p50/p99/p99.9/max per run: $(for k in p50 p99 p999 max; do printf '%s: %s; ' "$k" "$(runs "load.$k")"; done)"
echo "h2load time for request per run, min/mean/max: $(runs h2.min) / $(runs h2.mean) / $(runs h2.max)."
[ -n "$merged" ] && echo "All $RUNS runs merged (\`dpstatus load --merge\`, exact): min/p50/p90/p99/p99.9/max $merged ms."
if [ -n "$lat" ]; then
  read -r lmin lp50 lp99 lmax <<<"$lat"
  echo "Fixed \`--fault latency=5..5\`, $LAT_N updates, concurrency $CONC: min $lmin, p50 $lp50, p99 $lp99, max $lmax ms (p50 within 5-7 ms, min >= 5 ms, within 1 ms of h2load's mean); h2load there, min/max/mean/sd: $(sed 's/^time for request: *//' <<<"${lh2:-n/a}")."
fi
checks=${checks%; }
echo "Percentile checks (min <= p50 <= p90 <= p99 <= p99.9 <= max; fixed-latency p50): ${checks:-all passed}."
if [ -s "$work/notes" ]; then
  echo
  echo "Notes:"
  sed 's/^/- /' "$work/notes"
fi
echo "Load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)."

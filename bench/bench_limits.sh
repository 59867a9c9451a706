#!/usr/bin/env bash
# bench_limits.sh: how well a reporter lives within a rate limit: dpstatus (`dpstatus send
# --generate N`, the library's sender as shipped: default connections, streams and retries) side
# by side with boto3 (bench_limits_boto3.py: retries in adaptive mode, max_attempts 50, 32
# threads sharing one client) in the same run, each scenario against a fresh `dpstatus serve
# --auth none --rate-limit R/B` on loopback (a token bucket for SetTaskStatus: R calls/s, B at
# once, full at start; above it 400 ThrottlingException):
#   10/100 (the service's own numbers) and 50/50: one dpstatus reporter, then boto3;
#   1000/1000 and 20000/20000: one dpstatus reporter;
#   50/50 shared by four dpstatus reporters (four `send` processes started together, N/4 each).
# N is chosen so that a run lasts 20-40 s at the limit ((N - B) / R); `quick` divides that part
# by 4 (a smoke run, about 2 minutes in all).
#
# Measured from the server side, the same way for every peer: GET /metrics sampled about every
# 250 ms during the run (SetTaskStatus requests by outcome: ok, ThrottlingException). From the
# samples: goodput (accepted calls/s from the first sample where the accepted count exceeds B to
# the last accepted call) as a share of R; the throttled share of SetTaskStatus requests, over
# the whole run and after the first burst; the wall time (first request to last accepted call)
# against the ideal (N - B) / R. From each client's own summary (`send --output json`, the boto3
# peer's JSON): expired and failed; for four reporters each one's delivered count and rate
# (delivered / its elapsedSeconds) against R/4. `throttled` and `sendRate` (send_rate) of send's
# summary are printed when present. Targets, marked beside each figure (a miss is marked, not an
# exit status): goodput >= 95% of R; throttled <= 1% of requests after the first burst; nothing
# expired or failed; four reporters together >= 90% of R, each within +-25% of R/4; dpstatus
# ahead of boto3 on goodput and on throttled share at 10 and 50.
#
# Not a ctest test (timing). Usage:
#   bench/bench_limits.sh [path/to/dpstatus] [quick]      (default build/dpstatus, full)
#   ONLY=d10,b10 KEEP=/tmp/limits bench/bench_limits.sh build/dpstatus quick
# (ONLY: a subset of the scenario keys d10 b10 d50 b50 x50 d1k d20k; KEEP: a directory to copy
# each run's samples, client summaries and figures into.)
# Installs what it needs if missing (python3-boto3, curl, jq), quietly. Every client runs under
# timeout (3 x the ideal + 30 s); the emulators and samplers go with lib.sh's cleanup.
set -euo pipefail
export LC_ALL=C # EPOCHREALTIME and awk with a decimal point
DPS=${1:-$(dirname "$0")/../build/dpstatus}
MODE=${2:-full}
case $MODE in full | quick) ;; *)
  echo "usage: bench/bench_limits.sh [path/to/dpstatus] [quick]" >&2
  exit 2
  ;;
esac
[ -x "$DPS" ] || { echo "bench_limits: $DPS is not an executable (build it first)" >&2; exit 2; }
DPS=$(realpath "$DPS")
cd "$(dirname "$0")/.."
PY=/usr/bin/python3
SAMPLE_S=0.25

scripts/ensure-packages bench_limits python3-boto3 curl jq
BENCH=bench_limits
# shellcheck source=bench/lib.sh
. bench/lib.sh

# Dummy credentials for `send` (the emulator checks nothing; the library signs anyway); nothing
# from the caller's AWS setup may redirect the clients away from the emulator.
export AWS_ACCESS_KEY_ID=AKIDBENCHLIMITS AWS_SECRET_ACCESS_KEY=bench-limits-secret
export AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1
unset AWS_SESSION_TOKEN AWS_PROFILE AWS_ENDPOINT_URL AWS_ENDPOINT_URL_DATA_PIPELINE

note() { echo "$*" >>"$work/notes"; }
val() { { sed -n "s/^$1=//p" "$2" 2>/dev/null || true; } | head -1; } # key file (key=value lines)

# --- the server-side sampler ----------------------------------------------------------------------
# SetTaskStatus ok and ThrottlingException counts, summed over every series of the operation
# (the label set may grow, e.g. by account); "- -" when /metrics does not answer.
metrics_counts() {
  local m line ok=0 thr=0
  m=$(curl -s --max-time 2 "$1/metrics" 2>/dev/null) || { echo "- -"; return; }
  while IFS= read -r line; do
    case $line in 'dpstatus_requests_total{'*'operation="SetTaskStatus"'*) ;; *) continue ;; esac
    case $line in
      *'outcome="ok"'*) ok=$((ok + ${line##* })) ;;
      *'outcome="ThrottlingException"'*) thr=$((thr + ${line##* })) ;;
    esac
  done <<<"$m"
  echo "$ok $thr"
}
# One line: time before, time after the scrape (s, EPOCHREALTIME), ok, throttled.
sample() {
  local a b v
  a=$EPOCHREALTIME
  v=$(metrics_counts "$1")
  b=$EPOCHREALTIME
  echo "$a $b $v"
}
sampler() { while :; do sample "$1"; sleep "$SAMPLE_S"; done >>"$2"; }

# The figures of one run from its samples (the time of a sample is the middle of its scrape):
#   t_first  the first request: the middle between the last sample with none and the first with some;
#   t_s      the first sample whose accepted count exceeds B (the first burst is over);
#   t_last   the last accepted call: in the interval between the last sample short of the final
#            count and the first at it, placed at the pace of the interval before (when that one is
#            past the burst and moving), else in the middle of it;
#   goodput  (accepted at t_last - accepted at t_s) / (t_last - t_s);
#   throttled over the whole run: throttled / (accepted + throttled); after the burst: the same
#            of the requests answered after t_s;
#   wall     t_last - t_first, against the ideal (N - B) / R.
analyse() { # samples R B N
  awk -v R="$2" -v B="$3" -v N="$4" '
    NF != 4 || $3 == "-" { next }
    { n++; t[n] = ($1 + $2) / 2; ok[n] = $3 + 0; th[n] = $4 + 0 }
    END {
      if (n < 2) { print "error=fewer than 2 samples"; exit }
      okF = ok[n]; thF = th[n]
      printf "accepted=%d\nthrottled=%d\nsamples=%d\nsample_interval=%.3f\n", okF, thF, n, (t[n] - t[1]) / (n - 1)
      if (okF + thF == 0) { print "error=no SetTaskStatus request reached the emulator"; exit }
      printf "thr_all=%.6f\n", thF / (okF + thF)
      for (i = 1; i <= n && ok[i] + th[i] == 0; i++) ;
      tf = i > 1 ? (t[i - 1] + t[i]) / 2 : t[i]
      for (j = 1; j <= n && ok[j] <= B; j++) ;
      for (k = 1; k <= n && ok[k] < okF; k++) ;
      tl = k > 1 ? (t[k - 1] + t[k]) / 2 : t[k]
      if (k > 2 && k - 2 >= j && t[k - 1] > t[k - 2] && ok[k - 1] > ok[k - 2]) {
        e = t[k - 1] + (okF - ok[k - 1]) * (t[k - 1] - t[k - 2]) / (ok[k - 1] - ok[k - 2])
        tl = e < t[k] ? e : t[k]
      }
      printf "wall=%.3f\nideal=%.3f\n", tl - tf, (N - B) / R
      if (j > n || j >= k || tl <= t[j]) { print "error=the run ended within a sample of its first burst: no goodput"; exit }
      printf "goodput=%.3f\ngshare=%.6f\n", (okF - ok[j]) / (tl - t[j]), (okF - ok[j]) / (tl - t[j]) / R
      d = okF + thF - ok[j] - th[j]
      if (d > 0) printf "thr_after=%.6f\n", (thF - th[j]) / d
      printf "window=%.3f\n", tl - t[j]
    }' "$1"
}

# A client summary (JSON) as key=value lines; missing fields are left out.
summary_kv() { # json-file
  [ -s "$1" ] || return 0
  jq -r 'to_entries[] | select(.value | type == "number") | "\(.key)=\(.value)"' "$1" 2>/dev/null |
    sed 's/^send_rate=/sendRate=/' || true
}

# --- one scenario -----------------------------------------------------------------------------------
# run KEY PEER(dps|boto) PROCS R B N: a fresh emulator, the sampler, PROCS clients started
# together (N/PROCS updates each), their summaries in $work/KEY.I.json, the figures in $work/KEY.kv.
run() {
  local key=$1 peer=$2 procs=$3 r=$4 b=$5 n=$6 spec bb ideal tmo i per url rc
  spec=$r/$b bb=$b
  ideal=$(awk -v n="$n" -v b="$bb" -v r="$r" 'BEGIN { printf "%d", (n - b) / r + 0.999 }')
  tmo=$((3 * ideal + 30))
  per=$((n / procs))
  echo "bench_limits: $key: $peer x$procs, --rate-limit $spec, N=$n (ideal ${ideal} s, timeout ${tmo} s)..." >&2
  start_serve --auth none --rate-limit "$spec"
  url=http://127.0.0.1:$SERVE_PORT
  local s=$work/$key.samples
  sample "$url" >"$s"
  sampler "$url" "$s" &
  local spid=$!
  pids+=("$spid")
  local cp=()
  for i in $(seq "$procs"); do
    if [ "$peer" = dps ]; then
      timeout -s INT -k 5 "$tmo" "$DPS" send --generate "$per" --endpoint-url "$url" \
        --region us-east-1 --output json >"$work/$key.$i.json" 2>"$work/$key.$i.err" &
    else
      timeout -s INT -k 5 $((tmo + 30)) "$PY" bench/bench_limits_boto3.py "$url" --calls "$per" \
        --threads 32 --max-attempts 50 --mode adaptive --seconds "$tmo" --prefix "boto-$key-$i" \
        >"$work/$key.$i.json" 2>"$work/$key.$i.err" &
    fi
    cp+=($!)
    pids+=($!)
  done
  for i in $(seq "$procs"); do
    rc=0
    wait "${cp[$((i - 1))]}" || rc=$?
    echo "$rc" >"$work/$key.$i.rc"
    if [ "$rc" = 124 ] || [ "$rc" = 137 ]; then
      note "$key: client $i timed out after ${tmo} s (its summary, if any, is what it had by then)"
    elif [ "$rc" != 0 ] && [ ! -s "$work/$key.$i.json" ]; then
      note "$key: client $i exited $rc without a summary: $(tail -c 300 "$work/$key.$i.err" | tr '\n' ' ')"
    fi
    if [ -s "$work/$key.$i.json" ]; then
      local errs
      errs=$(jq -r '(.errors // {}) | to_entries | map("\(.key) \(.value)") | join(", ")' \
        "$work/$key.$i.json" 2>/dev/null || true)
      if [ -n "$errs" ]; then note "$key: client $i's errors (by code): $errs"; fi
    fi
  done
  kill "$spid" 2>/dev/null || true
  wait "$spid" 2>/dev/null || true
  sample "$url" >>"$s" # the final counts, after every client is done
  stop_serve
  {
    echo "spec=$spec"
    echo "r=$r"
    echo "b=$bb"
    echo "n=$n"
    echo "procs=$procs"
    echo "peer=$peer"
    analyse "$s" "$r" "$bb" "$n"
    # The clients' own counts, summed (and kept per process for the four-reporter table).
    for i in $(seq "$procs"); do summary_kv "$work/$key.$i.json" | sed "s/^/c$i./"; done
    for f in delivered failed expired unfinished throttled sendRate; do
      local sum="" have=0 v
      for i in $(seq "$procs"); do
        v=$(summary_kv "$work/$key.$i.json" | sed -n "s/^$f=//p")
        [ -n "$v" ] && have=1 && sum=$(awk -v a="${sum:-0}" -v b="$v" 'BEGIN { print a + b }')
      done
      if [ $have = 1 ]; then echo "client_$f=$sum"; fi
    done
  } >"$work/$key.kv"
}

# --- the scenarios ----------------------------------------------------------------------------------
# N at full length: (N - B) / R is 30, 29, 29, 19 and 29 s; quick keeps B and a quarter of the rest.
nfor() { # R B N -> N for this mode (a multiple of 4, for the four reporters)
  if [ "$MODE" = quick ]; then awk -v b="$2" -v n="$3" 'BEGIN { printf "%d", int((b + (n - b) / 4) / 4) * 4 }'; else echo "$3"; fi
}
SCEN=( # key peer procs R B N
  "d10 dps 1 10 100 400"
  "b10 boto 1 10 100 400"
  "d50 dps 1 50 50 1500"
  "b50 boto 1 50 50 1500"
  "x50 dps 4 50 50 1500"
  "d1k dps 1 1000 1000 30000"
  "d20k dps 1 20000 20000 400000"
)
t_start=$EPOCHREALTIME
if [ -n "${ONLY:-}" ]; then
  sel=()
  for sc in "${SCEN[@]}"; do [[ ,$ONLY, == *",${sc%% *},"* ]] && sel+=("$sc"); done
  [ ${#sel[@]} -gt 0 ] || { echo "bench_limits: ONLY=$ONLY names no scenario" >&2; exit 2; }
  SCEN=("${sel[@]}")
fi
for sc in "${SCEN[@]}"; do
  read -r key peer procs r b n <<<"$sc"
  run "$key" "$peer" "$procs" "$r" "$b" "$(nfor "$r" "$b" "$n")"
done
if [ -n "${KEEP:-}" ]; then
  mkdir -p "$KEEP"
  cp "$work"/*.samples "$work"/*.json "$work"/*.kv "$work"/*.err "$work/serve.log" "$KEEP"/ 2>/dev/null || true
fi
has() { [ -s "$work/$1.kv" ]; }
t_total=$(awk -v a="$t_start" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.0f", b - a }')

# --- the table ----------------------------------------------------------------------------------------
kv() { val "$2" "$work/$1.kv"; } # key field
pct() { [[ ${1:-} =~ ^[0-9.e+-]+$ ]] && awk -v v="$1" 'BEGIN { printf "%.1f%%", 100 * v }' || echo "n/a"; }
num() { [[ ${1:-} =~ ^[0-9.e+-]+$ ]] && awk -v v="$1" -v d="${2:-1}" 'BEGIN { printf "%.*f", d, v }' || echo "${3:-n/a}"; }
mark() { # value op threshold  ->  met / **missed** / n/a
  [[ ${1:-} =~ ^[0-9.e+-]+$ ]] || { echo "n/a"; return; }
  awk -v v="$1" -v op="$2" -v t="$3" 'BEGIN { ok = (op == ">=") ? v >= t : v <= t; print ok ? "met" : "**missed**" }'
}
label() { # key -> reporter text
  case $(kv "$1" peer)/$(kv "$1" procs) in
    dps/1) echo "dpstatus send" ;;
    dps/4) echo "4 x dpstatus send (N/4 each)" ;;
    boto/*) echo "boto3 adaptive, 32 threads" ;;
  esac
}

title="Living within a rate limit: \`dpstatus serve --auth none --rate-limit R/B\`"
echo
echo "$title, $MODE run"
echo "($t_total s in all). Server-side figures from GET /metrics every ~${SAMPLE_S} s; goodput is measured"
echo "after the first burst (from the first sample past B accepted calls to the last accepted call);"
echo "throttled = ThrottlingException / all SetTaskStatus requests; expired / failed from the"
echo "client's own summary. Targets: goodput >= 95% of R (4 reporters together >= 90%),"
echo "throttled after the burst <= 1%, nothing expired or failed."
echo
echo "| R/B | reporter | N | goodput/s | of R | throttled: whole run | after the burst | expired / failed | wall s | ideal s | wall / ideal | client: throttled, send rate |"
echo "|---|---|---:|---:|---|---:|---|---|---:|---:|---:|---|"
for sc in "${SCEN[@]}"; do
  read -r key _ procs _ <<<"$sc"
  gs=$(kv "$key" gshare) ta=$(kv "$key" thr_after)
  gt=95
  if [ "$procs" = 4 ]; then gt=90; fi
  gm=$(mark "$gs" ">=" "0.$gt")
  tm=$(mark "$ta" "<=" 0.01)
  ex=$(kv "$key" client_expired) fa=$(kv "$key" client_failed) un=$(kv "$key" client_unfinished)
  if [[ $ex =~ ^[0-9]+$ && $fa =~ ^[0-9]+$ ]]; then
    em=met
    if [ "$ex" != 0 ] || [ "$fa" != 0 ] || { [ -n "$un" ] && [ "$un" != 0 ]; }; then em="**missed**"; fi
    eft="$ex / $fa"
    if [ -n "$un" ] && [ "$un" != 0 ]; then eft="$eft (+$un unfinished)"; fi
    eft="$eft ($em)"
  else
    eft="n/a (no summary) (**missed**)"
  fi
  ct=$(kv "$key" client_throttled) cr=$(kv "$key" client_sendRate)
  ctext="${ct:-—}, $(num "$cr" 1 —)"
  if [ "$procs" = 4 ] && [ -n "$cr" ]; then ctext="$ctext (sum)"; fi
  err=$(kv "$key" error)
  gp=$(num "$(kv "$key" goodput)" 1)
  if [ -n "$err" ]; then gp="n/a: $err"; fi
  wi=$(awk -v w="$(kv "$key" wall)" -v i="$(kv "$key" ideal)" 'BEGIN { if (w != "" && i > 0) printf "%.2fx", w / i; else print "n/a" }')
  echo "| $(kv "$key" spec) | $(label "$key") | $(kv "$key" n) | $gp | $(pct "$gs") ($gm ≥ $gt%) | $(pct "$(kv "$key" thr_all)") | $(pct "$ta") ($tm ≤ 1%) | $eft | $(num "$(kv "$key" wall)") | $(num "$(kv "$key" ideal)") | $wi | $ctext |"
done

# dpstatus against boto3 at the same limits.
if { has d10 && has b10; } || { has d50 && has b50; }; then
  echo
  echo "dpstatus against boto3 adaptive (target: dpstatus ahead on both, at 10 and at 50):"
  echo
  echo "| R/B | goodput dpstatus / boto3 | ratio | ahead | throttled after the burst, dpstatus / boto3 | ahead | whole run, dpstatus / boto3 |"
  echo "|---|---|---:|---|---|---|---|"
  for pair in "d10 b10" "d50 b50"; do
    read -r d bo <<<"$pair"
    if ! { has "$d" && has "$bo"; }; then continue; fi
    gd=$(kv "$d" goodput) gb=$(kv "$bo" goodput) td=$(kv "$d" thr_after) tb=$(kv "$bo" thr_after)
    ratio=$(awk -v a="$gd" -v b="$gb" 'BEGIN { if (a != "" && b > 0) printf "%.2fx", a / b; else print "n/a" }')
    ga=$(awk -v a="$gd" -v b="$gb" 'BEGIN { if (a == "" || b == "") print "n/a"; else print (a > b) ? "met" : "**missed**" }')
    ta=$(awk -v a="$td" -v b="$tb" 'BEGIN { if (a == "" || b == "") print "n/a"; else if (a == 0 && b == 0) print "met (level at 0)"; else print (a < b) ? "met" : "**missed**" }')
    echo "| $(kv "$d" spec) | $(num "$gd") / $(num "$gb") | $ratio | $ga | $(pct "$td") / $(pct "$tb") | $ta | $(pct "$(kv "$d" thr_all)") / $(pct "$(kv "$bo" thr_all)") |"
  done
fi

# Four reporters: each one's share, from its own summary.
k=x50
if has $k; then
  R4=$(awk -v r="$(kv $k r)" 'BEGIN { print r / 4 }')
  echo
  echo "Four reporters sharing $(kv $k spec) (R/4 = $R4/s): each one's own summary; its rate is delivered /"
  echo "its elapsedSeconds (burst included), against R/4; target: each within ±25%."
  echo
  echo "| reporter | delivered | share of all delivered | expired / failed | elapsed s | rate/s | vs R/4 | within ±25% | throttled, send rate |"
  echo "|---|---:|---:|---|---:|---:|---:|---|---|"
  tot=$(kv $k client_delivered)
  spread=""
  for i in 1 2 3 4; do
    de=$(kv $k "c$i.delivered") el=$(kv $k "c$i.elapsedSeconds")
    rt=$(awk -v d="$de" -v e="$el" 'BEGIN { if (d != "" && e > 0) printf "%.3f", d / e }')
    dev=$(awk -v x="$rt" -v q="$R4" 'BEGIN { if (x != "") printf "%.1f", 100 * (x / q - 1) }')
    spread=$(awk -v s="$spread" -v d="$dev" 'BEGIN { if (d == "") { print "n/a"; exit } if (s == "n/a") { print s; exit } a = d < 0 ? -d : d; print (s == "" || a > s) ? a : s }')
    sh=$(awk -v d="$de" -v t="$tot" 'BEGIN { if (d != "" && t > 0) printf "%.1f%%", 100 * d / t; else print "n/a" }')
    echo "| $i | ${de:-n/a} | $sh | $(kv $k "c$i.expired") / $(kv $k "c$i.failed") | $(num "$el" 2) | $(num "$rt" 2) | $(if [ -n "$dev" ]; then printf '%+.1f%%' "$dev"; else echo n/a; fi) | $(awk -v d="$dev" 'BEGIN { if (d == "") print "n/a"; else print (d <= 25 && d >= -25) ? "met" : "**missed**" }') | $(kv $k "c$i.throttled" | grep . || echo —), $(num "$(kv $k "c$i.sendRate")" 1 —) |"
  done
  echo
  echo "Spread (max deviation of a reporter's rate from R/4): ${spread:-n/a}% ($(mark "$spread" "<=" 25) ≤ 25%); together: goodput $(num "$(kv $k goodput)")/s = $(pct "$(kv $k gshare)") of R ($(mark "$(kv $k gshare)" ">=" 0.90) ≥ 90%)."
fi

echo
echo "Runs: $(for sc in "${SCEN[@]}"; do
  read -r key _ procs _ <<<"$sc"
  rcs=$(for i in $(seq "$procs"); do cat "$work/$key.$i.rc" 2>/dev/null || echo "?"; done | paste -sd, -)
  printf '%s: accepted %s, throttled %s, %s samples every %s s, goodput window %s s, client exit %s; ' \
    "$key" "$(kv "$key" accepted)" "$(kv "$key" throttled)" "$(kv "$key" samples)" \
    "$(kv "$key" sample_interval)" "$(kv "$key" window)" "$rcs"
done)"
if [ -s "$work/notes" ]; then
  echo
  echo "Notes:"
  sed 's/^/- /' "$work/notes"
fi

#!/usr/bin/env bash
# bench_e2e.sh: end-to-end SetTaskStatus updates per second into `dpstatus serve --auth none`,
# side by side in one run, same emulator, same connections x streams (C x M), median of RUNS
# runs each, interleaved, over TLS (self-signed certificate made here, ALPN h2, verified through
# --ca-bundle) and over h2c (a second emulator); then memory per queued update. Peers:
#   - dpstatus, the library (bench_e2e rate): N distinct updates from 1 and from 4 producer
#     threads, as fast as the queue takes them, then dps_flush; timed from the first submit to the
#     last outcome; every update must come back delivered exactly once. The emulator does not
#     check signatures (--auth none) but the library signs every request anyway: that is its
#     real cost, so it is in the figure;
#   - h2load, the ceiling: the same 55-byte body with content-type and x-amz-target, no signature;
#     and, for reference, h2load adding a signed request's headers (a 218-byte Authorization,
#     which HPACK never indexes, so it crosses the wire and is decoded on every request, as the
#     library's do);
#   - a plain libcurl-multi HTTP/2 client (bench_e2e_curl): CURLPIPE_MULTIPLEX, C connections,
#     M streams each, handles re-added as they complete (TLS only: Debian 12's libcurl 7.88 fails
#     reused h2c POST streams; the h2c attempt is shown as what it gives);
#   - boto3 set_task_status in a loop (bench_e2e_boto3.py, Debian's /usr/bin/python3), bounded to
#     BOTO_SECONDS or BOTO_CALLS, over TLS (verify = the certificate) and plain http.
# Memory: bench_e2e mem: peak RSS (VmHWM) growth with 1,000,000 ~150-byte updates queued against
# a socket that never answers, per update, against its encoded body + 64 bytes.
#
# Not a ctest test (timing on a shared 2-core machine). Usage:
#   bench/bench_e2e.sh [build-dir]        (default build; configured and built here as needed)
#   N=200000 C=2 M=100 RUNS=3 BOTO_SECONDS=5 BOTO_CALLS=5000 bench/bench_e2e.sh build-bench
#   BASE=/tmp/base/build bench/bench_e2e.sh build   (also runs BASE's library, interleaved, and
#   prints this build's rate against it: a change's cost measured in one run)
# Installs what it needs if missing (libcurl4-openssl-dev, nghttp2-client, python3-boto3,
# openssl), quietly. Targets: dpstatus >= 70% of h2load, >= 3x libcurl multi, >= 50x boto3;
# memory per queued update <= its encoded body + 64 bytes.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${1:-build}
N=${N:-200000}
C=${C:-2}
M=${M:-100}
RUNS=${RUNS:-3}
BOTO_SECONDS=${BOTO_SECONDS:-5}
BOTO_CALLS=${BOTO_CALLS:-5000}
PY=/usr/bin/python3

pkgs=(libcurl4-openssl-dev nghttp2-client python3-boto3 openssl)
scripts/ensure-packages bench_e2e "${pkgs[@]}"
# (Re)configure so the libcurl peer is found once installed, then build what this needs.
cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DDPS_WERROR=ON >/dev/null
cmake --build "$BUILD" -j"$(nproc)" --target dpstatus bench_e2e bench_e2e_curl >/dev/null
DPS=$BUILD/dpstatus
LIB=$BUILD/bench/bench_e2e
CURLB=$BUILD/bench/bench_e2e_curl
BASE=${BASE:-}
if [ -n "$BASE" ]; then
  cmake --build "$BASE" -j"$(nproc)" --target bench_e2e >/dev/null
  BASELIB=$BASE/bench/bench_e2e
fi

BENCH=bench_e2e
# shellcheck source=bench/lib.sh
. bench/lib.sh


# A self-signed certificate for 127.0.0.1 (it is its own CA: the clients trust exactly it).
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
  -keyout "$work/key.pem" -out "$work/cert.pem" -subj /CN=127.0.0.1 \
  -addext subjectAltName=IP:127.0.0.1 2>/dev/null
CA=$work/cert.pem
start_serve --auth none --tls-cert "$work/cert.pem" --tls-key "$work/key.pem"
TLS_URL=https://127.0.0.1:$SERVE_PORT
start_serve --auth none
H2C_URL=http://127.0.0.1:$SERVE_PORT

body='{"taskId":"bench-task-0000000","taskStatus":"FINISHED"}' # the library's body shape
printf '%s' "$body" >"$work/body.json"
plain=(-H "content-type: application/x-amz-json-1.1" -H "x-amz-target: DataPipeline.SetTaskStatus")
sig=$(printf 'x' | sha256sum | cut -c1-64)
signed=("${plain[@]}" -H "x-amz-date: 20261124T120000Z" -H "user-agent: dpstatus/0.1.0"
  -H "authorization: AWS4-HMAC-SHA256 Credential=AKIDBENCHE2E/20261124/us-east-1/datapipeline/aws4_request, SignedHeaders=content-type;host;x-amz-date;x-amz-target, Signature=$sig")

val() { sed -n "s/^$1=//p" <<<"$2" | head -1; } # key output
note() { echo "$*" >>"$work/notes"; }

h2rate() { # url header-args...
  local url=$1 out
  shift
  out=$(timeout 120 h2load -t 1 -n "$N" -c "$C" -m "$M" -d "$work/body.json" "$@" "$url" 2>&1) || true
  grep -q "$N succeeded" <<<"$out" || note "h2load $url: $(grep -E 'requests:' <<<"$out")"
  sed -n 's/^finished in .*, \([0-9.]*\) req\/s.*/\1/p' <<<"$out" | cut -d. -f1
}
librate() { # url threads [ca] [binary]
  local out
  out=$(timeout 120 "${4:-$LIB}" rate "$1" -n "$N" -t "$2" -c "$C" -m "$M" ${3:+--ca-bundle "$3"}) ||
    note "dpstatus $1 -t $2: incomplete: $(tr '\n' ' ' <<<"$out")"
  val rate "$out"
}
curlrate() { # url [ca]
  local out
  out=$(timeout 120 "$CURLB" "$1" -n "$N" -c "$C" -m "$M" --max-seconds 60 ${2:+--ca-bundle "$2"}) ||
    note "libcurl $1: $(val ok "$out") of $N answered 200; warm-up errors $(val warmup_errors "$out"); first error: $(val first_error "$out")"
  [ "$(val ok "$out")" = "$N" ] && val rate "$out" || echo fail
}
botorate() { # url [ca]
  local out
  out=$(timeout 60 "$PY" bench/bench_e2e_boto3.py "$1" --seconds "$BOTO_SECONDS" \
    --calls "$BOTO_CALLS" ${2:+--ca-bundle "$2"}) || note "boto3 $1: $(tr '\n' ' ' <<<"$out")"
  val rate "$out"
}
median() { { grep -E '^[0-9.]+$' || true; } | sort -n | awk '{a[NR]=$1} END {if (NR) print a[int((NR+1)/2)]; else print "fail"}'; }

declare -A R # R[key]="run1 run2 run3"
add() { R[$1]="${R[$1]:-} $2"; }
echo "bench_e2e: $RUNS runs x {TLS, h2c}, N=$N, $C connections x $M streams..." >&2
for i in $(seq "$RUNS"); do
  for s in tls h2c; do
    if [ $s = tls ]; then url=$TLS_URL ca=$CA; else url=$H2C_URL ca=""; fi
    add "$s.h2load" "$(h2rate "$url/" "${plain[@]}")"
    add "$s.h2signed" "$(h2rate "$url/" "${signed[@]}")"
    add "$s.lib1" "$(librate "$url" 1 "$ca")"
    add "$s.lib4" "$(librate "$url" 4 "$ca")"
    if [ -n "$BASE" ]; then
      add "$s.base1" "$(librate "$url" 1 "$ca" "$BASELIB")"
      add "$s.base4" "$(librate "$url" 4 "$ca" "$BASELIB")"
    fi
    if [ $s = tls ] || [ "$i" = 1 ]; then add "$s.curl" "$(curlrate "$url" "$ca")"; fi
    add "$s.boto" "$(botorate "$url" "$ca")"
  done
done
mem=$(timeout 120 "$LIB" mem -n 1000000) || note "memory run incomplete: $(tr '\n' ' ' <<<"$mem")"

med() { tr ' ' '\n' <<<"${R[$1]:-}" | median; }
runs() { sed 's/^ //' <<<"${R[$1]:-}"; }
fmt() { [[ $1 =~ ^[0-9.]+$ ]] && printf "%.0f" "$1" | sed ':a;s/\B[0-9]\{3\}\>/,&/;ta' || echo "$1"; }
pct() { awk -v a="$1" -v b="$2" 'BEGIN { if (a ~ /^[0-9.]+$/ && b ~ /^[0-9.]+$/ && b > 0) printf "%.0f%%", 100 * a / b; else print "n/a" }'; }
times() { awk -v a="$1" -v b="$2" 'BEGIN { if (a ~ /^[0-9.]+$/ && b ~ /^[0-9.]+$/ && b > 0) printf "%.1fx", a / b; else print "n/a" }'; }
verdict() { # ratio-text threshold (number; % or x in the text)
  awk -v r="$1" -v t="$2" 'BEGIN { v = r; sub(/[%x]$/, "", v); if (r == "n/a") print "n/a"; else if (v + 0 >= t) print "met"; else print "**missed**" }'
}

t1=$(med tls.lib1) h1=$(med h2c.lib1) t4=$(med tls.lib4) h4=$(med h2c.lib4)
best() { awk -v a="$1" -v b="$2" 'BEGIN { if (b ~ /^[0-9.]+$/ && (a !~ /^[0-9.]+$/ || b > a)) print b; else print a }'; }
tb=$(best "$t1" "$t4") hb=$(best "$h1" "$h4")

echo
echo "End to end into \`dpstatus serve --auth none\`, $C connections x $M streams, N=$N updates"
echo "(55-byte body), median of $RUNS interleaved runs, updates/s; boto3 bounded to ${BOTO_SECONDS} s"
echo "or $BOTO_CALLS calls. Ratios: dpstatus (the better of 1 and 4 producers) against each peer."
echo
echo "| client | TLS (h2) | h2c | dpstatus vs it, TLS | h2c | target |"
echo "|---|---:|---:|---:|---:|---|"
echo "| **dpstatus library, 1 producer** | **$(fmt "$t1")** | **$(fmt "$h1")** | | | |"
echo "| **dpstatus library, 4 producers** | **$(fmt "$t4")** | **$(fmt "$h4")** | | | |"
row() { # label key ratio-fn threshold target-text
  local tv hv tr hr
  tv=$(med "tls.$2") hv=$(med "h2c.$2")
  tr=$($3 "$tb" "$tv") hr=$($3 "$hb" "$hv")
  local v="" t=""
  [ -n "$4" ] && v=" $(verdict "$tr" "$4") / $(verdict "$hr" "$4")" && t="$5:"
  echo "| $1 | $(fmt "$tv") | $(fmt "$hv") | $tr | $hr | $t$v |"
}
row "h2load (the ceiling; no signature)" h2load pct 70 "≥ 70%"
row "h2load + a signed request's headers (reference)" h2signed pct "" ""
row "libcurl multi, HTTP/2" curl times 3 "≥ 3x"
row "boto3 set_task_status loop (HTTP/1.1)" boto times 50 "≥ 50x"
per=$(val bytes_per_update "$mem") bavg=$(val body_avg "$mem") tgt=$(val target "$mem")
mv=$(awk -v p="$per" -v t="$tgt" 'BEGIN { if (p == "" || t == "") print "n/a"; else if (p + 0 <= t + 0) print "met"; else print "**missed**" }')
echo "| memory per queued update (1,000,000 queued, VmHWM growth) | ${per:-n/a} B | | body avg ${bavg:-?} B + 64 = ${tgt:-?} B | | ≤ body + 64: $mv |"
if [ -n "$BASE" ]; then
  echo
  echo "This build against BASE ($BASE), the library's rate, medians of the same interleaved runs:"
  echo
  echo "| producers | TLS: this / BASE | ratio | h2c: this / BASE | ratio |"
  echo "|---|---|---:|---|---:|"
  for p in 1 4; do
    a=$(med "tls.lib$p") b=$(med "tls.base$p") c=$(med "h2c.lib$p") d=$(med "h2c.base$p")
    echo "| $p | $(fmt "$a") / $(fmt "$b") | $(pct "$a" "$b") | $(fmt "$c") / $(fmt "$d") | $(pct "$c" "$d") |"
  done
  echo
  echo "Runs of BASE (updates/s): tls.base1: $(runs tls.base1); tls.base4: $(runs tls.base4); h2c.base1: $(runs h2c.base1); h2c.base4: $(runs h2c.base4)"
fi
echo
echo "Runs (updates/s): $(for k in tls.lib1 tls.lib4 tls.h2load tls.h2signed tls.curl tls.boto h2c.lib1 h2c.lib4 h2c.h2load h2c.h2signed h2c.curl h2c.boto; do printf '%s: %s; ' "$k" "$(runs "$k")"; done)"
echo "Memory run: $(tr '\n' ' ' <<<"$mem")"
if [ -s "$work/notes" ]; then
  echo
  echo "Notes:"
  sed 's/^/- /' "$work/notes"
fi

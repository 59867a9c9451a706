# lib.sh: what the bench scripts share; sourced, not run. The sourcing script sets DPS (the
# dpstatus binary) and BENCH (its own name, for messages) first. Gives a work directory that
# goes at exit with every process recorded in pids, and start_serve.
work=$(mktemp -d)
pids=()
bench_cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap bench_cleanup EXIT

# `dpstatus serve` with the given arguments on a free loopback port (it writes the port it got);
# sets SERVE_PORT and SERVE_PID. Exits the script if the emulator does not come up in 5 s.
start_serve() {
  rm -f "$work/port"
  "$DPS" serve --listen 127.0.0.1:0 --port-file "$work/port" "$@" 2>>"$work/serve.log" &
  SERVE_PID=$!
  pids+=("$SERVE_PID")
  for _ in $(seq 100); do [ -s "$work/port" ] && break; sleep 0.05; done
  [ -s "$work/port" ] || { echo "$BENCH: the emulator did not start" >&2; exit 1; }
  SERVE_PORT=$(cat "$work/port")
}

# Stops the emulator start_serve last started (SERVE_PID) and waits for it, so the next one gets
# the cores to itself; its summary line stays in serve.log.
stop_serve() {
  kill "$SERVE_PID" 2>/dev/null || true
  wait "$SERVE_PID" 2>/dev/null || true
}

#!/usr/bin/python3
"""test_limits.py: `dpstatus send` against `dpstatus serve --rate-limit R/B`, the rate controller
for real: every update delivered and none expired at R = 5, 10, 50, 1000 and 20,000 per second,
in about the ideal time ((N - B) / R) with few calls throttled beyond the first burst; throttled
updates are not failed by --max-attempts while the controller paces; --max-rate caps the rate;
four processes behind one 50/50 limit each get about a quarter; the service's own limits
(`--limits aws`, 10/s with a burst of 100) are lived within; Retry-After and x-amz-retry-after on
a throttled answer hold the next call at least that long.

Times come from the emulator's --record file (receivedAt, milliseconds, of each accepted call).
Every subprocess has a timeout; loopback only. Run: DPS_BINARY=build/dpstatus python3 test_limits.py
"""
import datetime
import json
import os
import shutil
import subprocess
import tempfile
import unittest

from emulator import Serve

DPS = os.environ.get("DPS_BINARY", "")
# Sanitizer builds send a few thousand calls a second at most: the 20,000/s case needs a release
# build to mean anything there.
SANITIZED = bool(os.environ.get("DPS_SANITIZE"))
AK, SK, REGION = "AKIDLIMITTEST", "limit-test-secret-key", "us-east-1"
IN_FLIGHT = 200  # send's default: 2 connections x 100 streams, all sent at once at the start


def env():
    e = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    e.update(AWS_CONFIG_FILE="/dev/null", AWS_SHARED_CREDENTIALS_FILE="/dev/null",
             AWS_ACCESS_KEY_ID=AK, AWS_SECRET_ACCESS_KEY=SK, AWS_REGION=REGION)
    return e


def send(*args, timeout=120):
    return subprocess.run([DPS, "send", *args, "--output", "json"], env=env(), timeout=timeout,
                          capture_output=True, text=True)


def stamp(line):
    t = datetime.datetime.strptime(line["receivedAt"], "%Y-%m-%dT%H:%M:%S.%fZ")
    return t.replace(tzinfo=datetime.timezone.utc).timestamp()


class Limited(unittest.TestCase):
    def serve(self, *args):
        srv = Serve("--access-key", AK, "--secret-key", SK, *args)
        self.addCleanup(srv.cleanup)
        self.addCleanup(srv.stop)
        return srv

    def records(self, srv):
        srv.stop()
        return sorted(srv.records(), key=stamp)

    def check_pacing(self, rate, burst, n):
        # serve's --rate-limit N: N a second, a burst of N (the bucket holds one second).
        self.assertEqual(rate, burst)
        srv = self.serve("--rate-limit", str(rate))
        r = send("--endpoint-url", srv.url, "--generate", str(n))
        self.assertEqual(r.returncode, 0, r.stderr)
        s = json.loads(r.stdout)
        self.assertEqual((s["delivered"], s["failed"], s["expired"]), (n, 0, 0), s)
        recs = self.records(srv)
        self.assertEqual(len(recs), n)
        times = [stamp(x) for x in recs]
        ideal = (n - burst) / rate
        took = times[-1] - times[0]
        # The old limiter took 40 s for 300 at 10/s (ideal 20 s) with 642 of 942 calls throttled.
        # Throttled: what was in flight at the start beyond the burst, then a few per cycle.
        print(f"  {rate}/{burst}: {n} in {took:.2f} s (ideal {ideal:.2f}), "
              f"{s['throttled']} throttled, paced at {s['sendRate']}/s at the end")
        # From 1000/s up the run is CPU-bound on two cores that ctest shares with other tests
        # (a descheduled sender or emulator bunches calls, and a bunch costs a cut): the bounds
        # there leave room for that; bench/bench_limits.sh measures the real figures, alone.
        slack = 1.25 if rate >= 1000 else 1.1
        floor = 0.8 if rate >= 1000 else 0.9
        self.assertLessEqual(took, ideal * slack + 1.0, s)
        self.assertLessEqual(s["throttled"], IN_FLIGHT + 0.02 * n, s)
        # Goodput after the first burst, from the record: calls accepted after the burst's,
        # over the time they took.
        after = times[burst:]
        if len(after) > 10:
            goodput = (len(after) - 1) / (after[-1] - after[0])
            self.assertGreaterEqual(goodput, floor * rate, s)

    def test_pacing_5(self):
        self.check_pacing(5, 5, 55)

    def test_pacing_10(self):
        self.check_pacing(10, 10, 110)

    def test_pacing_50(self):
        self.check_pacing(50, 50, 550)

    def test_pacing_1000(self):
        self.check_pacing(1000, 1000, 9000)

    @unittest.skipIf(SANITIZED, "a sanitizer build cannot send 20,000 calls a second")
    def test_pacing_20000(self):
        self.check_pacing(20000, 20000, 180000)

    def test_aws_limits(self):
        # The service's documented SetTaskStatus limit: 10/s, a burst of 100. The burst goes at
        # once, then ten a second.
        srv = self.serve("--limits", "aws")
        n = 220
        r = send("--endpoint-url", srv.url, "--generate", str(n))
        self.assertEqual(r.returncode, 0, r.stderr)
        s = json.loads(r.stdout)
        self.assertEqual((s["delivered"], s["failed"], s["expired"]), (n, 0, 0), s)
        times = [stamp(x) for x in self.records(srv)]
        took = times[-1] - times[0]
        after = times[100:]
        goodput = (len(after) - 1) / (after[-1] - after[0])
        print(f"  aws 10/100: {n} in {took:.2f} s (ideal {(n - 100) / 10:.1f}), goodput "
              f"{goodput:.2f}/s after the burst, {s['throttled']} throttled")
        self.assertLessEqual(took, (n - 100) / 10 * 1.1 + 1.0, s)
        self.assertGreaterEqual(goodput, 0.9 * 10, s)
        self.assertLessEqual(s["throttled"], IN_FLIGHT + 0.05 * n, s)

    def check_retry_after(self, header, hold):
        # A bucket of one that refills in 10 ms: without the header the second call would be
        # accepted within a few tens of milliseconds.
        srv = self.serve("--rate-limit", "100/1", *(("--throttle-header", header) if header else ()))
        r = send("--endpoint-url", srv.url, "--generate", "2")
        self.assertEqual(r.returncode, 0, r.stderr)
        s = json.loads(r.stdout)
        self.assertEqual(s["delivered"], 2, s)
        self.assertGreaterEqual(s["throttled"], 1, s)
        times = [stamp(x) for x in self.records(srv)]
        return times[1] - times[0]

    def test_retry_after_honoured(self):
        gap = self.check_retry_after(None, 0)
        self.assertLess(gap, 1.0)
        for header, hold in (("retry-after=2", 2.0), ("x-amz-retry-after=1500", 1.5),
                             ("retry-after=3,x-amz-retry-after=1200", 1.2)):
            gap = self.check_retry_after(header, hold)
            print(f"  {header}: the second call {gap:.3f} s after the first")
            # The record's stamps are milliseconds: allow one of rounding.
            self.assertGreaterEqual(gap, hold - 0.002, header)
            self.assertLess(gap, hold + 1.0, header)

    def test_throttled_not_failed_by_max_attempts(self):
        srv = self.serve("--rate-limit", "5")
        r = send("--endpoint-url", srv.url, "--generate", "30", "--max-attempts", "1")
        self.assertEqual(r.returncode, 0, r.stderr)
        s = json.loads(r.stdout)
        self.assertEqual((s["delivered"], s["failed"]), (30, 0), s)
        self.assertGreater(s["throttled"], 0, s)
        # Without the controller, a throttled first attempt is the last one.
        srv2 = self.serve("--rate-limit", "5")
        r = send("--endpoint-url", srv2.url, "--generate", "30", "--max-attempts", "1",
                 "--rate-control", "off")
        s = json.loads(r.stdout)
        self.assertGreater(s["failed"], 0, s)
        self.assertEqual(s["errors"].get("ThrottlingException"), s["failed"], s)

    def test_max_rate_caps(self):
        srv = self.serve()
        r = send("--endpoint-url", srv.url, "--generate", "41", "--max-rate", "20/1")
        self.assertEqual(r.returncode, 0, r.stderr)
        times = [stamp(x) for x in self.records(srv)]
        self.assertGreaterEqual(times[-1] - times[0], 40 / 20 - 0.05)
        self.assertLess(times[-1] - times[0], 40 / 20 + 1.5)
        # A burst goes at once, then the rate.
        srv = self.serve()
        r = send("--endpoint-url", srv.url, "--generate", "30", "--max-rate", "10/20")
        times = [stamp(x) for x in self.records(srv)]
        self.assertLess(times[19] - times[0], 0.3, times)
        self.assertGreaterEqual(times[-1] - times[0], 10 / 10 - 0.05, times)

    def test_max_rate_bad_values(self):
        for v, msg in (("0", "RATE"), ("abc", "RATE"), ("10/0", "BURST"), ("10/", "BURST"),
                       ("-1", "RATE"), ("1e3", "RATE")):
            r = send("--endpoint-url", "http://127.0.0.1:9", "--generate", "1", "--max-rate", v)
            self.assertEqual(r.returncode, 2, (v, r.stderr))
            self.assertIn("--max-rate", r.stderr)
            self.assertIn(msg, r.stderr)
        r = send("--endpoint-url", "http://127.0.0.1:9", "--generate", "1", "--rate-control",
                 "maybe")
        self.assertEqual(r.returncode, 2)
        self.assertIn("--rate-control", r.stderr)

    def test_four_reporters_share_one_limit(self):
        srv = self.serve("--rate-limit", "50")
        tmp = tempfile.mkdtemp(prefix="dps-limits-")
        self.addCleanup(shutil.rmtree, tmp, True)
        n = 250
        procs = []
        for p in range(4):
            path = os.path.join(tmp, f"in{p}.ndjson")
            with open(path, "w") as f:
                for i in range(n):
                    f.write(json.dumps({"taskId": f"p{p}-{i}", "taskStatus": "FINISHED"}) + "\n")
            procs.append(subprocess.Popen([DPS, "send", "--endpoint-url", srv.url, "--input",
                                           path, "--output", "json"], env=env(),
                                          stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                          text=True))
        sums = []
        for p in procs:
            out, err = p.communicate(timeout=120)
            self.assertEqual(p.returncode, 0, err)
            sums.append(json.loads(out))
        for s in sums:
            self.assertEqual((s["delivered"], s["failed"], s["expired"]), (n, 0, 0), s)
        recs = self.records(srv)
        self.assertEqual(len(recs), 4 * n)
        # Shares while all four were sending: from the last process's first call to the first
        # process's last.
        first = {}
        last = {}
        for x in recs:
            p = x["taskId"].split("-")[0]
            first.setdefault(p, stamp(x))
            last[p] = stamp(x)
        lo, hi = max(first.values()), min(last.values())
        self.assertGreater(hi - lo, 5, (first, last))
        counts = {p: 0 for p in first}
        for x in recs:
            if lo <= stamp(x) <= hi:
                counts[x["taskId"].split("-")[0]] += 1
        total = sum(counts.values())
        shares = {p: c / total for p, c in counts.items()}
        throttled = sum(s["throttled"] for s in sums)
        print(f"  4 x 50/50: shares {shares}, {throttled} throttled, "
              f"{total / (hi - lo):.1f}/s together")
        # No bound on each share: the controller does not converge to equal shares, which is the
        # open part of this work (README, "Living within the service's limits": 0.08 to 0.41
        # measured here). What holds, and is asserted: every reporter delivered everything it
        # was given, none expired, and together they used the limit.
        self.assertGreaterEqual(total / (hi - lo), 0.85 * 50)
        self.assertLessEqual(throttled, 4 * IN_FLIGHT + 0.05 * 4 * n)


if __name__ == "__main__":
    if not DPS:
        raise SystemExit("DPS_BINARY is not set")
    unittest.main(verbosity=2)

#!/usr/bin/python3
"""test_send.py: `dpstatus send` for real, against `dpstatus serve` on loopback: one update from
the flags, NDJSON streams with bad lines (line numbers, reasons, --results, exit codes), terminal
errors, faults, deadlines, bad flags, --embedded, and TLS (a test CA and certificates made here
with the openssl CLI: --ca-bundle, the system store, a wrong host name, --no-verify-ssl, ALPN
http/1.1 only).

Each class starts its own server (--listen 127.0.0.1:0 --port-file --record) and stops it at the
end; every subprocess has a timeout. Run: DPS_BINARY=build/dpstatus python3 test_send.py
"""
import json
import os
import shutil
import subprocess
import tempfile
import time
import unittest

from emulator import Serve

DPS = os.environ.get("DPS_BINARY", "")
AK, SK, REGION = "AKIDSENDTEST", "send-test-secret-key", "us-east-1"
TIMEOUT = 60


def read(path):
    with open(path) as f:
        return f.read()


def clean_env(**extra):
    """No AWS settings from the caller's environment: HOME points nowhere useful."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(AWS_CONFIG_FILE="/dev/null", AWS_SHARED_CREDENTIALS_FILE="/dev/null", **extra)
    return env


def signing_env():
    return clean_env(AWS_ACCESS_KEY_ID=AK, AWS_SECRET_ACCESS_KEY=SK, AWS_REGION=REGION)


def send(*args, env=None, timeout=TIMEOUT, input=None):
    return subprocess.run([DPS, "send", *args], env=env if env is not None else signing_env(),
                          timeout=timeout, capture_output=True, text=True, input=input)



class Server(Serve):
    """The emulator with the test's key pair; scheme and host for the TLS cases."""

    def __init__(self, *args, scheme="http", host="127.0.0.1"):
        super().__init__("--access-key", AK, "--secret-key", SK, *args, scheme=scheme, host=host)


def body_of(record):
    """What the client sent, from a record line (the emulator adds receivedAt and count)."""
    return {k: v for k, v in record.items() if k not in ("receivedAt", "count")}


def results(path):
    with open(path) as f:
        return [json.loads(line) for line in f]


class ServerCase(unittest.TestCase):
    """A fresh server per test, so that each record holds only that test's updates."""
    serve_args = ()

    def setUp(self):
        self.srv = Server(*self.serve_args)
        self.tmp = tempfile.mkdtemp(prefix="dps-send-test-")

    def tearDown(self):
        self.srv.stop()
        self.srv.cleanup()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def path(self, name):
        return os.path.join(self.tmp, name)


class TestSend(ServerCase):
    def test_one_update_from_flags(self):
        r = send("--endpoint-url", self.srv.url, "--task-id", "t-flags", "--task-status",
                 "FAILED", "--error-id", "ExtractFailed", "--error-message", 'table "x" locked')
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("t-flags: delivered (1 attempt", r.stderr)
        rc, _ = self.srv.stop()
        self.assertEqual(rc, 0)
        self.assertEqual([body_of(x) for x in self.srv.records()],
                         [{"taskId": "t-flags", "taskStatus": "FAILED", "errorId": "ExtractFailed",
                           "errorMessage": 'table "x" locked'}])

    def test_ndjson_with_bad_lines(self):
        n = 2000
        bad = {  # line number -> (line text, expected reason fragment)
            17: (json.dumps({"taskId": "x" * 2049, "taskStatus": "FINISHED"}),
                 "taskId: 2049 characters, the limit is 2048"),
            100: ('{"taskId": "t-100", "taskStatus": ', "invalid JSON"),
            250: (json.dumps({"taskId": 250, "taskStatus": "FINISHED"}),
                  "taskId: expected a string, got a number"),
            400: (json.dumps({"taskId": "t-400", "taskStatus": "DONE"}),
                  'taskStatus: "DONE" is not one of FINISHED, FAILED, FALSE'),
            777: (json.dumps({"taskId": "t-777", "taskStatus": "FAILED", "errorId": "Service_X"}),
                  'errorId: must not start with "Service_"'),
            1500: (json.dumps({"taskId": "t-1500", "taskStatus": "FINISHED", "extra": 1}),
                   'unknown member "extra"'),
            1999: (json.dumps({"taskStatus": "FINISHED"}), "taskId: required"),
        }
        blank = {50, 51, 1234}
        good, lines = {}, []
        for i in range(1, n + 1):
            if i in bad:
                lines.append(bad[i][0])
            elif i in blank:
                lines.append("   ")
            else:
                u = {"taskId": f"task-{i:05d}-\u00e9", "taskStatus": "FINISHED"}
                if i % 3 == 0:
                    u = {"taskId": f"task-{i:05d}-\u00e9", "taskStatus": "FAILED",
                         "errorId": "StepFailed", "errorMessage": f'step {i} said "no"\n\tat x',
                         "errorStackTrace": "at main()"}
                good[i] = u
                lines.append(json.dumps(u, ensure_ascii=i % 2 == 0))
        inp, res = self.path("in.ndjson"), self.path("results.ndjson")
        with open(inp, "w") as f:
            f.write("\n".join(lines) + "\n")
        r = send("--endpoint-url", self.srv.url, "--input", inp, "--results", res)
        self.assertEqual(r.returncode, 1, r.stderr)  # because of the rejected lines
        for line, (_, reason) in bad.items():
            self.assertRegex(r.stderr, rf"dpstatus send: line {line}: [^\n]*{reason}")
        self.assertIn(f"{len(good)} delivered, {len(bad)} rejected, 0 failed, 0 expired",
                      r.stderr)
        got = results(res)
        by_line = {x["line"]: x for x in got}
        self.assertEqual(len(got), len(by_line))  # one result per line, no repeats
        self.assertEqual(set(by_line), set(good) | set(bad))
        for line in bad:
            self.assertEqual(by_line[line]["outcome"], "rejected")
            self.assertEqual(by_line[line]["attempts"], 0)
        self.assertEqual(by_line[17]["taskId"], "x" * 2049)
        for line, u in good.items():
            x = by_line[line]
            self.assertEqual((x["outcome"], x["taskId"], x["attempts"]),
                             ("delivered", u["taskId"], 1))
            self.assertGreater(x["latencyMs"], 0)
        self.srv.stop()
        recs = [body_of(x) for x in self.srv.records()]
        self.assertEqual(sorted(recs, key=lambda x: x["taskId"]),
                         sorted(good.values(), key=lambda x: x["taskId"]))

    def test_stdin_and_json_summary(self):
        text = "".join(json.dumps({"taskId": f"s-{i}", "taskStatus": "FINISHED"}) + "\n"
                       for i in range(300))
        r = send("--endpoint-url", self.srv.url, "--input", "-", "--output", "json", input=text)
        self.assertEqual(r.returncode, 0, r.stderr)
        s = json.loads(r.stdout)
        self.assertEqual((s["submitted"], s["delivered"], s["rejected"], s["failed"],
                          s["expired"]), (300, 300, 0, 0, 0))
        for k in ("retries", "errors", "elapsedSeconds", "rate"):
            self.assertIn(k, s)
        self.assertLessEqual(s["latencyMs"]["p50"], s["latencyMs"]["max"])

    def test_deadline_expires(self):
        self.srv.stop()
        self.srv.cleanup()
        self.srv = Server("--fault", "latency=2000..2000")
        res = self.path("results.ndjson")
        start = time.time()
        # every answer takes 2 s: the first attempt times out at 1 s, past the 300 ms deadline
        r = send("--endpoint-url", self.srv.url, "--generate", "50", "--deadline", "300ms",
                 "--timeout", "1s", "--results", res, "--output", "json")
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertLess(time.time() - start, 10)
        s = json.loads(r.stdout)
        self.assertEqual((s["submitted"], s["expired"], s["delivered"]), (50, 50, 0))
        self.assertEqual(sum(s["errors"].values()), 50)
        got = results(res)
        self.assertEqual(sorted(x["line"] for x in got), list(range(1, 51)))
        self.assertTrue(all(x["outcome"] == "expired" for x in got))


class TestStrict(ServerCase):
    serve_args = ("--tasks", "strict")

    def test_unknown_task_fails_once(self):
        res = self.path("results.ndjson")
        r = send("--endpoint-url", self.srv.url, "--generate", "20", "--results", res,
                 "--output", "json")
        self.assertEqual(r.returncode, 1, r.stderr)
        s = json.loads(r.stdout)
        self.assertEqual((s["failed"], s["retries"]), (20, 0))
        self.assertEqual(s["errors"], {"TaskNotFoundException": 20})
        for x in results(res):
            self.assertEqual((x["outcome"], x["error"], x["attempts"]),
                             ("failed", "TaskNotFoundException", 1))
            self.assertTrue(x["message"])
        r = send("--endpoint-url", self.srv.url, "--task-id", "nope", "--task-status", "FINISHED")
        self.assertEqual(r.returncode, 1)
        self.assertIn("nope: failed: TaskNotFoundException", r.stderr)


class TestFaults(ServerCase):
    serve_args = ("--fault", "internal=0.05,throttle=0.05,reset=0.02,goaway-every=500,"
                  "drop-every=2000", "--seed", "11")

    def test_everything_delivered_through_faults(self):
        n = 20000
        res = self.path("results.ndjson")
        # Random throttles are no limit the rate controller could find (README: "Living within
        # the service's limits"); this test is about retries, so it runs without it.
        r = send("--endpoint-url", self.srv.url, "--generate", str(n), "--max-attempts", "0",
                 "--rate-control", "off", "--results", res, "--output", "json", timeout=120)
        self.assertEqual(r.returncode, 0, r.stderr)
        s = json.loads(r.stdout)
        self.assertEqual(s["submitted"], s["delivered"] + s["failed"] + s["expired"])
        self.assertEqual((s["submitted"], s["delivered"], s["rejected"]), (n, n, 0))
        self.assertGreater(s["retries"], 0)
        got = results(res)
        self.assertEqual(len(got), n)
        self.assertEqual(len({x["line"] for x in got}), n)  # nothing reported twice
        self.assertTrue(all(x["outcome"] == "delivered" for x in got))
        self.srv.stop()
        ids = {x["taskId"] for x in self.srv.records()}
        self.assertEqual(ids, {f"task-gen-{i:09d}" for i in range(n)})


class TestUsage(unittest.TestCase):
    def check(self, args, message):
        r = send(*args, timeout=10)
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertEqual(r.stderr, f"dpstatus send: {message}\n")
        self.assertEqual(r.stdout, "")

    def test_durations(self):
        self.check(["--generate", "1", "--timeout", "500"],
                   '--timeout: "500" needs a unit: 500ms, 500s or 500m')
        self.check(["--generate", "1", "--deadline", "5 m"],
                   '--deadline: "5 m" is not a duration like 500ms, 20s, 5m or 1h')
        self.check(["--generate", "1", "--deadline", "0s"], '--deadline: "0s" must be more than zero')
        self.check(["--generate", "1", "--timeout", "-1s"],
                   '--timeout: "-1s" is not a duration like 500ms, 20s, 5m or 1h')
        self.check(["--generate", "1", "--timeout", "25h"],
                   '--timeout: "25h" is too long (at most 86400s)')

    def test_bad_flags(self):
        self.check(["--generate", "x"], '--generate: "x" is not a whole number from 1 to 1000000000')
        self.check(["--input", "-", "--task-id", "t"],
                   "--input takes the updates from the input: --task-id does not go with it")
        self.check(["--input", "/nonexistent/in.ndjson"],
                   '--input: cannot open "/nonexistent/in.ndjson": No such file or directory')
        self.check(["--generate", "1", "--connections", "0"],
                   '--connections: "0" is not a whole number from 1 to 64')
        self.check(["--generate", "1", "--output", "yaml"], '--output: "yaml" is not text or json')
        self.check(["--generate", "1", "--ca-bundle", "x", "--no-verify-ssl"],
                   "--ca-bundle and --no-verify-ssl contradict each other")
        self.check(["--task-status", "FINISHED"],
                   "--task-id is required (or --input FILE, or --generate N)")
        self.check(["--input", "-", "--dry-run"],
                   "--dry-run prints one request: it does not go with --input")

    def test_no_credentials(self):
        r = send("--region", REGION, "--generate", "3", env=clean_env(HOME="/nonexistent"),
                 timeout=10)
        self.assertEqual(r.returncode, 2)
        self.assertIn("no credentials", r.stderr)


class TestEmbedded(unittest.TestCase):
    def test_generate_embedded(self):
        r = send("--embedded", "--generate", "1000", env=clean_env(HOME="/nonexistent"))
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("1000 updates in", r.stderr)
        self.assertIn("1000 delivered, 0 rejected, 0 failed, 0 expired", r.stderr)
        self.assertIn("embedded emulator: served 1000 requests: 1000 ok", r.stderr)

    def test_embedded_json(self):
        r = send("--embedded", "--generate", "100", "--output", "json",
                 env=clean_env(HOME="/nonexistent"))
        self.assertEqual(r.returncode, 0, r.stderr)
        s = json.loads(r.stdout)
        self.assertEqual(s["delivered"], 100)
        self.assertIn("served 100 requests", s["emulator"])


def openssl(*args, cwd):
    r = subprocess.run(["openssl", *args], cwd=cwd, capture_output=True, text=True,
                       timeout=30)
    if r.returncode != 0:
        raise AssertionError("openssl %s: %s" % (" ".join(args), r.stderr))


def make_pki(d):
    """A test CA; a server certificate for 127.0.0.1 and localhost; one for another name."""
    openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
            "-nodes", "-keyout", "ca.key", "-out", "ca.pem", "-days", "2", "-subj",
            "/CN=dpstatus test CA", "-addext", "basicConstraints=critical,CA:TRUE",
            "-addext", "keyUsage=critical,keyCertSign", cwd=d)
    for name, san in (("good", "DNS:localhost,IP:127.0.0.1"), ("other", "DNS:other.example")):
        with open(os.path.join(d, name + ".ext"), "w") as f:
            f.write(f"subjectAltName={san}\nextendedKeyUsage=serverAuth\n")
        openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                "-keyout", name + ".key", "-out", name + ".csr", "-subj", "/CN=" + name, cwd=d)
        openssl("x509", "-req", "-in", name + ".csr", "-CA", "ca.pem", "-CAkey", "ca.key",
                "-CAcreateserial", "-out", name + ".pem", "-days", "2", "-extfile",
                name + ".ext", cwd=d)


class TestTLS(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.pki = tempfile.mkdtemp(prefix="dps-send-pki-")
        make_pki(cls.pki)
        cls.ca = os.path.join(cls.pki, "ca.pem")

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.pki, ignore_errors=True)

    def serve(self, cert, *args, host="127.0.0.1"):
        srv = Server("--tls-cert", os.path.join(self.pki, cert + ".pem"), "--tls-key",
                     os.path.join(self.pki, cert + ".key"), *args, scheme="https", host=host)
        self.addCleanup(srv.cleanup)
        self.addCleanup(srv.stop)
        return srv

    def test_ca_bundle_verifies(self):
        srv = self.serve("good")
        r = send("--endpoint-url", srv.url, "--ca-bundle", self.ca, "--generate", "200")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("200 delivered", r.stderr)

    def test_system_store_refuses_quickly(self):
        srv = self.serve("good")
        start = time.time()
        r = send("--endpoint-url", srv.url, "--generate", "5000", "--deadline", "2m")
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertLess(time.time() - start, 10)
        self.assertRegex(r.stderr, r"dpstatus send: TLS: certificate verify failed: [^\n]+ "
                                   r"\(use --ca-bundle FILE, or --no-verify-ssl\)\n$")
        srv.stop()
        self.assertEqual(srv.records(), [])

    def test_wrong_host_name(self):
        srv = self.serve("other", host="localhost")
        r = send("--endpoint-url", srv.url, "--ca-bundle", self.ca, "--task-id", "t",
                 "--task-status", "FINISHED")
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn("TLS: certificate verify failed: hostname mismatch", r.stderr)

    def test_no_verify_ssl(self):
        srv = self.serve("other")
        r = send("--endpoint-url", srv.url, "--no-verify-ssl", "--generate", "100")
        self.assertEqual(r.returncode, 0, r.stderr)

    def test_alpn_http1_only(self):
        srv = self.serve("good", "--alpn", "http/1.1")
        r = send("--endpoint-url", srv.url, "--ca-bundle", self.ca, "--generate", "500",
                 "--output", "json")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(json.loads(r.stdout)["delivered"], 500)
        rc, text = srv.stop()
        self.assertIn("served 500 requests: 500 ok", text)
        self.assertEqual(len(srv.records()), 500)


if __name__ == "__main__":
    if not DPS or not os.access(DPS, os.X_OK):
        raise SystemExit("set DPS_BINARY to the dpstatus executable")
    unittest.main(verbosity=2)

#!/usr/bin/python3
"""test_serve.py: `dpstatus serve` driven by real clients from Debian (AWS CLI, boto3, curl,
h2load, nghttp, openssl) and by raw sockets for the malformed inputs, all on loopback.

Each class starts its own server on a free port (--listen 127.0.0.1:0 --port-file) and stops it
at the end; every subprocess and socket has a timeout. A missing client is a failure, never a
skip: scripts/test installs them. Run: DPS_BINARY=build/dpstatus python3 test_serve.py
"""
import json
import os
import shutil
import signal
import socket
import struct
import subprocess
import tempfile
import time
import unittest

from emulator import Serve

DPS = os.environ.get("DPS_BINARY", "")
AK, SK, REGION = "AKIDSERVETEST", "serve-test-secret-key", "us-east-1"
JSON_CT = "application/x-amz-json-1.1"
STS = "DataPipeline.SetTaskStatus"
TIMEOUT = 30


def tool(name):
    """Absolute path of a client, or a failure (never a skip)."""
    for d in ("/usr/bin", "/usr/sbin", "/bin"):
        p = os.path.join(d, name)
        if os.access(p, os.X_OK):
            return p
    p = shutil.which(name)
    if not p:
        raise AssertionError(f"{name} is not installed (scripts/test installs it)")
    return p


def read(path):
    with open(path) as f:
        return f.read()


def run(cmd, env=None, timeout=TIMEOUT, input=None):
    return subprocess.run(cmd, env=env, timeout=timeout, capture_output=True, text=True,
                          input=input)



class Server(Serve):
    """The emulator; stop() also removes its files."""

    def stop(self):
        return self.close()


def sts_body(task_id="task-1", status="FINISHED", **extra):
    return json.dumps({"taskId": task_id, "taskStatus": status, **extra})


def curl(url, *args, body=None, target=STS, ctype=JSON_CT, http="--http1.1"):
    """(status, body) through curl; http is --http1.1, --http2-prior-knowledge or --http2."""
    cmd = [tool("curl"), "-sS", http, "-o", "-", "-w", "\n%{http_code} %{http_version}",
           "--max-time", "20"]
    if target:
        cmd += ["-H", "x-amz-target: " + target]
    if ctype:
        cmd += ["-H", "content-type: " + ctype]
    if body is not None:
        cmd += ["--data-binary", "@-"]
    cmd += [*args, url]
    r = run(cmd, input=body)
    if r.returncode != 0:
        raise AssertionError(f"curl failed ({r.returncode}): {r.stderr}")
    text, _, tail = r.stdout.rpartition("\n")
    code, version = tail.split()
    return int(code), text, version


def raw(port, data, shut=False, timeout=5.0):
    """Sends bytes on a fresh connection and returns everything read until close or timeout."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    try:
        s.sendall(data)
        if shut:
            s.shutdown(socket.SHUT_WR)
        out = b""
        end = time.time() + timeout
        while time.time() < end:
            try:
                chunk = s.recv(65536)
            except socket.timeout:
                break
            except ConnectionResetError:
                break
            if not chunk:
                break
            out += chunk
        return out
    finally:
        s.close()


def h1_request(body, target=STS, ctype=JSON_CT, extra=b""):
    b = body.encode() if isinstance(body, str) else body
    return (b"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Amz-Target: " + target.encode() +
            b"\r\nContent-Type: " + ctype.encode() + b"\r\nContent-Length: " +
            str(len(b)).encode() + b"\r\n" + extra + b"\r\n" + b)


def aws_env(secret=SK, key=AK):
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(AWS_ACCESS_KEY_ID=key, AWS_SECRET_ACCESS_KEY=secret, AWS_DEFAULT_REGION=REGION,
               AWS_REGION=REGION, AWS_CONFIG_FILE="/dev/null",
               AWS_SHARED_CREDENTIALS_FILE="/dev/null", AWS_EC2_METADATA_DISABLED="true",
               AWS_MAX_ATTEMPTS="1", AWS_PAGER="")
    return env


def boto_client(url, secret=SK, key=AK):
    try:
        import boto3
        from botocore.config import Config
    except ImportError as e:  # a failure, not a skip: scripts/test installs python3-boto3
        raise AssertionError(f"boto3 is not installed: {e}")
    return boto3.client("datapipeline", endpoint_url=url, region_name=REGION,
                        aws_access_key_id=key, aws_secret_access_key=secret,
                        config=Config(retries={"max_attempts": 1, "mode": "standard"},
                                      connect_timeout=5, read_timeout=15))


def boto_code(fn):
    from botocore.exceptions import ClientError
    try:
        fn()
    except ClientError as e:
        return e.response["Error"]["Code"]
    return None


class CliRefusals(unittest.TestCase):
    """Configuration errors: exit 2 with one clear line, nothing served."""

    def refuse(self, *args, expect):
        r = run([DPS, "serve", *args], timeout=10)
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertIn(expect, r.stderr)
        self.assertEqual(len(r.stderr.strip().splitlines()), 1, r.stderr)

    def test_non_loopback_refused_without_flag(self):
        self.refuse("--listen", "0.0.0.0:0", "--auth", "none", expect="--allow-remote")
        self.refuse("--listen", "[::]:0", "--auth", "none", expect="--allow-remote")

    def test_bad_values(self):
        self.refuse("--listen", "127.0.0.1", expect="--listen")
        self.refuse("--listen", "127.0.0.1:99999", expect="--listen")
        self.refuse("--max-streams", "12x", expect="--max-streams")
        self.refuse("--max-streams", "0", expect="--max-streams")
        self.refuse("--seed", "-1", expect="--seed")
        self.refuse("--rate-limit", "", expect="--rate-limit")
        self.refuse("--max-body-bytes", "1e6", expect="--max-body-bytes")
        self.refuse("--tasks", "lazy", expect="--tasks")
        self.refuse("--auth", "basic", expect="--auth")
        self.refuse("--tls-cert", "/nonexistent.pem", expect="--tls-key")
        self.refuse("--tls-cert", "/nonexistent.pem", "--tls-key", "/nonexistent.key",
                    "--auth", "none", "--listen", "127.0.0.1:0", expect="--tls-cert")

    def test_ipv6_loopback(self):
        d = tempfile.mkdtemp()
        pf = os.path.join(d, "port")
        p = subprocess.Popen([DPS, "serve", "--listen", "[::1]:0", "--port-file", pf, "--auth",
                              "none"], stderr=subprocess.PIPE, text=True)
        try:
            deadline = time.time() + 10
            while not os.path.exists(pf) and time.time() < deadline and p.poll() is None:
                time.sleep(0.02)
            if p.poll() is not None:  # a machine without IPv6 says so; that is not our bug
                self.assertIn("cannot listen", p.stderr.read())
                return
            port = int(read(pf))
            r = run([tool("curl"), "-sS", "--http2-prior-knowledge", "-o", "/dev/null", "-w",
                     "%{http_code}", f"http://[::1]:{port}/metrics"])
            self.assertEqual(r.stdout, "200", r.stderr)
        finally:
            p.send_signal(signal.SIGTERM)
            self.assertEqual(p.wait(timeout=10), 0)
            p.stderr.close()
            shutil.rmtree(d, ignore_errors=True)


class AwsClients(unittest.TestCase):
    """SigV4 mode, driven by the AWS CLI (HTTP/1.1) and boto3."""

    @classmethod
    def setUpClass(cls):
        cls.srv = Server("--access-key", AK, "--secret-key", SK, "--region", REGION)

    @classmethod
    def tearDownClass(cls):
        rc, err = cls.srv.stop()
        assert rc == 0, err

    def test_aws_cli_set_task_status(self):
        r = run([tool("aws"), "datapipeline", "set-task-status", "--task-id", "cli-task-1",
                 "--task-status", "FAILED", "--error-id", "E1", "--error-message", "boom",
                 "--endpoint-url", self.srv.url], env=aws_env(), timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)

    def test_boto3_wrong_secret(self):
        c = boto_client(self.srv.url, secret="not-the-secret")
        code = boto_code(lambda: c.set_task_status(taskId="t-wrong", taskStatus="FINISHED"))
        self.assertIn(code, ("InvalidSignatureException", "SignatureDoesNotMatch"))

    def test_boto3_unknown_key(self):
        c = boto_client(self.srv.url, key="AKIDUNKNOWN")
        code = boto_code(lambda: c.set_task_status(taskId="t-wrong", taskStatus="FINISHED"))
        self.assertEqual(code, "UnrecognizedClientException")

    def test_boto3_task_runner_loop(self):
        c = boto_client(self.srv.url)
        for i in range(3):
            task = c.poll_for_task(workerGroup="wg-1", hostname="host-1")["taskObject"]
            self.assertTrue(task["taskId"])
            progress = c.report_task_progress(taskId=task["taskId"])
            self.assertFalse(progress["canceled"])
            hb = c.report_task_runner_heartbeat(taskrunnerId="runner-1", workerGroup="wg-1")
            self.assertFalse(hb["terminate"])
            c.set_task_status(taskId=task["taskId"], taskStatus="FINISHED")
            # a retry of the same final status is accepted (at-least-once delivery)
            c.set_task_status(taskId=task["taskId"], taskStatus="FINISHED")


class StrictTasks(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp()
        tf = os.path.join(cls.dir, "tasks.ndjson")
        with open(tf, "w") as f:
            f.write(json.dumps({"taskId": "known-1", "pipelineId": "df-1",
                                "pipelineState": "ACTIVE"}) + "\n")
        cls.srv = Server("--access-key", AK, "--secret-key", SK, "--tasks", "strict",
                         "--tasks-file", tf)

    @classmethod
    def tearDownClass(cls):
        rc, err = cls.srv.stop()
        shutil.rmtree(cls.dir, ignore_errors=True)
        assert rc == 0, err

    def test_aws_cli_task_not_found(self):
        r = run([tool("aws"), "datapipeline", "set-task-status", "--task-id", "unknown-9",
                 "--task-status", "FINISHED", "--endpoint-url", self.srv.url], env=aws_env(),
                timeout=60)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("TaskNotFoundException", r.stderr)

    def test_aws_cli_known_task(self):
        r = run([tool("aws"), "datapipeline", "set-task-status", "--task-id", "known-1",
                 "--task-status", "FINISHED", "--endpoint-url", self.srv.url], env=aws_env(),
                timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)


class Cleartext(unittest.TestCase):
    """h2c and HTTP/1.1 on one port, auth none; malformed input through both protocols."""

    @classmethod
    def setUpClass(cls):
        cls.srv = Server("--auth", "none", "--max-body-bytes", "4096", "--max-streams", "32")

    @classmethod
    def tearDownClass(cls):
        rc, err = cls.srv.stop()
        assert rc == 0, err

    def tearDown(self):
        self.assertTrue(self.srv.alive(), self.srv.stderr())

    def both(self, **kw):
        """The same request over HTTP/1.1 and h2c: both answers, which must agree."""
        h1 = curl(self.srv.url, http="--http1.1", **kw)
        h2 = curl(self.srv.url, http="--http2-prior-knowledge", **kw)
        self.assertEqual(h1[2], "1.1")
        self.assertEqual(h2[2], "2")
        self.assertEqual(h1[0], h2[0])
        t1 = json.loads(h1[1]).get("__type", "") if h1[1].startswith("{") else h1[1]
        t2 = json.loads(h2[1]).get("__type", "") if h2[1].startswith("{") else h2[1]
        self.assertEqual(t1, t2)
        return h1[0], h1[1]

    def test_set_task_status_both_protocols(self):
        code, body = self.both(body=sts_body("both-1"))
        self.assertEqual((code, json.loads(body)), (200, {}))

    def test_curl_h1_keepalive(self):
        cmd = [tool("curl"), "-sS", "-v", "--http1.1", "-o", "/dev/null", "--max-time", "20",
               "-H", "x-amz-target: " + STS, "-H", "content-type: " + JSON_CT,
               "--data-binary", sts_body("ka-1"), self.srv.url + "/", "--next", "--http1.1",
               "-o", "/dev/null", "-H", "x-amz-target: " + STS, "-H", "content-type: " + JSON_CT,
               "--data-binary", sts_body("ka-2"), self.srv.url + "/"]
        r = run(cmd)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("Re-using existing connection", r.stderr)
        self.assertEqual(r.stderr.count("< HTTP/1.1 200"), 2, r.stderr)

    def test_h1_pipelining_in_order(self):
        reqs = b"".join(h1_request(sts_body(f"pipe-{i}")) for i in range(5))
        reqs += h1_request("{}", target="DataPipeline.Nope", extra=b"Connection: close\r\n")
        out = raw(self.srv.port, reqs)
        self.assertEqual(out.count(b"HTTP/1.1 200 OK"), 5, out)
        self.assertTrue(out.rstrip().endswith(b"UnknownOperationException\"}") or
                        b"UnknownOperationException" in out.split(b"HTTP/1.1")[-1], out)
        self.assertIn(b"Connection: close", out.split(b"HTTP/1.1")[-1])

    def test_h2load(self):
        d = tempfile.mkdtemp()
        try:
            bf = os.path.join(d, "body.json")
            with open(bf, "w") as f:
                f.write(sts_body("h2load-task"))
            r = run([tool("h2load"), "-n", "3000", "-c", "2", "-m", "16", "-d", bf, "-H",
                     "x-amz-target: " + STS, "-H", "content-type: " + JSON_CT,
                     self.srv.url + "/"], timeout=60)
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
            self.assertIn("3000 succeeded", r.stdout)
            self.assertIn("3000 2xx", r.stdout)
        finally:
            shutil.rmtree(d, ignore_errors=True)

    def test_garbage_bytes(self):
        out = raw(self.srv.port, b"\x00\x01\x02garbage\xff\xfe\r\n\r\n")
        self.assertTrue(out.startswith(b"HTTP/1.1 400 "), out)

    def test_bad_preface(self):
        # diverges from the HTTP/2 preface mid-way: HTTP/1.1 parsing, which refuses it
        out = raw(self.srv.port, b"PRI * HTTP/2.0\r\n\r\nXX\r\n\r\n")
        self.assertTrue(out == b"" or out.startswith(b"HTTP/1.1 400 "), out)

    def test_h2_protocol_error_goaway(self):
        preface = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
        settings = struct.pack(">I", 0)[1:] + b"\x04\x00" + struct.pack(">I", 0)
        bad = struct.pack(">I", 4)[1:] + b"\x01\x04" + struct.pack(">I", 0) + b"\x82\x86\x84\x41"
        out = raw(self.srv.port, preface + settings + bad)
        types = []
        while len(out) >= 9:
            n = int.from_bytes(out[:3], "big")
            types.append(out[3])
            out = out[9 + n:]
        self.assertIn(7, types)  # GOAWAY, then the connection closed (raw returned)

    def test_h1_truncated_request(self):
        req = (b"POST / HTTP/1.1\r\nHost: x\r\nX-Amz-Target: " + STS.encode() +
               b"\r\nContent-Type: " + JSON_CT.encode() + b"\r\nContent-Length: 100\r\n\r\n{\"ta")
        out = raw(self.srv.port, req, shut=True)
        self.assertTrue(out.startswith(b"HTTP/1.1 400 "), out)

    def test_truncated_json(self):
        code, body = self.both(body='{"taskId":"t","taskSta')
        self.assertEqual(code, 400)
        self.assertIn("SerializationException", body)

    def test_oversized_body(self):
        big = sts_body("big", errorMessage="x" * 5000)
        code, body = self.both(body=big)
        self.assertEqual(code, 413)
        self.assertIn("RequestEntityTooLarge", body)
        # declared length over the limit, answered before the body is read
        out = raw(self.srv.port, h1_request(big))
        self.assertTrue(out.startswith(b"HTTP/1.1 413 "), out)
        self.assertIn(b"Connection: close", out)

    def test_wrong_content_type(self):
        code, body = self.both(body=sts_body("ct"), ctype="text/plain")
        self.assertGreaterEqual(code, 400)
        self.assertLess(code, 500)

    def test_unknown_target(self):
        code, body = self.both(body="{}", target="DataPipeline.DeletePipelineX")
        self.assertEqual(code, 400)
        self.assertIn("UnknownOperationException", body)

    def test_invalid_field(self):
        code, body = self.both(body=sts_body("t", "DONE"))
        self.assertEqual(code, 400)
        self.assertIn("taskStatus", body)

    def test_client_vanishes_mid_stream(self):
        # many requests, connection closed without reading: the server must not mind
        reqs = b"".join(h1_request(sts_body(f"gone-{i}")) for i in range(200))
        s = socket.create_connection(("127.0.0.1", self.srv.port), timeout=5)
        s.sendall(reqs)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        s.close()
        time.sleep(0.1)
        code, _, _ = curl(self.srv.url + "/metrics", target=None, ctype=None)
        self.assertEqual(code, 200)


class Tls(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp()
        cls.cert = os.path.join(cls.dir, "cert.pem")
        cls.key = os.path.join(cls.dir, "key.pem")
        r = run([tool("openssl"), "req", "-x509", "-newkey", "ec", "-pkeyopt",
                 "ec_paramgen_curve:prime256v1", "-nodes", "-days", "1", "-subj",
                 "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
                 "-keyout", cls.key, "-out", cls.cert])
        assert r.returncode == 0, r.stderr
        cls.both = Server("--auth", "none", "--tls-cert", cls.cert, "--tls-key", cls.key)
        cls.h1only = Server("--auth", "none", "--tls-cert", cls.cert, "--tls-key", cls.key,
                            "--alpn", "http/1.1")

    @classmethod
    def tearDownClass(cls):
        r1 = cls.both.stop()
        r2 = cls.h1only.stop()
        shutil.rmtree(cls.dir, ignore_errors=True)
        assert r1[0] == 0 and r2[0] == 0, (r1, r2)

    def https(self, srv):
        return f"https://127.0.0.1:{srv.port}/"

    def test_alpn_h2(self):
        code, body, v = curl(self.https(self.both), "--cacert", self.cert,
                             body=sts_body("tls-1"), http="--http2")
        self.assertEqual((code, v), (200, "2"), body)

    def test_alpn_http11(self):
        code, body, v = curl(self.https(self.both), "--cacert", self.cert,
                             body=sts_body("tls-2"), http="--http1.1")
        self.assertEqual((code, v), (200, "1.1"), body)

    def test_alpn_http11_only(self):
        code, body, v = curl(self.https(self.h1only), "--cacert", self.cert,
                             body=sts_body("tls-3"), http="--http2")
        self.assertEqual((code, v), (200, "1.1"), body)

    def test_boto3_over_tls(self):
        c = boto_client(self.https(self.both))
        c._endpoint.http_session._verify = self.cert
        c.set_task_status(taskId="tls-boto", taskStatus="FINISHED")
        c.close()

    def test_bad_certificate(self):
        r = run([DPS, "serve", "--listen", "127.0.0.1:0", "--auth", "none", "--tls-cert",
                 self.key, "--tls-key", self.key], timeout=10)
        self.assertEqual(r.returncode, 2)
        self.assertIn("--tls-cert", r.stderr)


class ConnectionFaults(unittest.TestCase):
    def test_goaway_every(self):
        srv = Server("--auth", "none", "--fault", "goaway-every=5")
        try:
            r = run([tool("nghttp"), "-nv", "-m", "8", srv.url + "/metrics"])
            self.assertIn("recv GOAWAY", r.stdout, r.stdout[-2000:])
            self.assertIn("error_code=NO_ERROR", r.stdout)
            r = run([tool("h2load"), "-n", "40", "-c", "1", "-m", "1", srv.url + "/metrics"],
                    timeout=60)
            self.assertNotIn("40 succeeded", r.stdout)  # GOAWAY ends the connection at 5
        finally:
            rc, err = srv.stop()
        self.assertEqual(rc, 0, err)

    def test_drop_every(self):
        srv = Server("--auth", "none", "--fault", "drop-every=3")
        try:
            r = run([tool("h2load"), "-n", "30", "-c", "1", "-m", "1", srv.url + "/metrics"],
                    timeout=60)
            self.assertNotIn("30 succeeded", r.stdout, r.stdout)
            out = raw(srv.port, b"".join(h1_request("{}", target="X") for _ in range(5)))
            self.assertEqual(out.count(b"HTTP/1.1 "), 3, out)
            self.assertTrue(srv.alive())
        finally:
            rc, err = srv.stop()
        self.assertEqual(rc, 0, err)


class Shutdown(unittest.TestCase):
    def test_sigterm_answers_in_flight_and_flushes_record(self):
        srv = Serve("--auth", "none", "--fault", "latency=600..600")  # keeps its files on stop
        try:
            for i in range(3):
                code, _, _ = curl(srv.url, body=sts_body(f"rec-{i}"))
                self.assertEqual(code, 200)
            slow = subprocess.Popen(
                [tool("curl"), "-sS", "--http2-prior-knowledge", "-o", "/dev/null", "-w",
                 "%{http_code}", "--max-time", "20", "-H", "x-amz-target: " + STS, "-H",
                 "content-type: " + JSON_CT, "--data-binary", sts_body("rec-slow"), srv.url],
                stdout=subprocess.PIPE, text=True)
            time.sleep(0.2)
            rc, err = srv.stop()
            out, _ = slow.communicate(timeout=20)
            self.assertEqual(out, "200")
            self.assertEqual(rc, 0, err)
            self.assertIn("served", err)
            self.assertEqual(sorted(x["taskId"] for x in srv.records()),
                             ["rec-0", "rec-1", "rec-2", "rec-slow"])
        finally:
            srv.cleanup()

if __name__ == "__main__":
    if not DPS or not os.access(DPS, os.X_OK):
        raise SystemExit("set DPS_BINARY to the dpstatus executable")
    unittest.main(verbosity=2)

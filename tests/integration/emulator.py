"""emulator.py: one `dpstatus serve` child process for the integration tests, on a free loopback
port (--listen 127.0.0.1:0 --port-file), recording what it accepts. Shared by test_serve.py,
test_send.py and test_load.py."""

import json
import os
import shutil
import signal
import subprocess
import tempfile
import time

DPS = os.environ.get("DPS_BINARY", "")


def _read(path):
    with open(path) as f:
        return f.read()


class Serve:
    """`dpstatus serve ARGS...`; url is scheme://host:port once it listens."""

    def __init__(self, *args, scheme="http", host="127.0.0.1"):
        self.dir = tempfile.mkdtemp(prefix="dps-serve-")
        self.port_file = os.path.join(self.dir, "port")
        self.record = os.path.join(self.dir, "record.ndjson")
        self.stderr_path = os.path.join(self.dir, "stderr")
        self.err = open(self.stderr_path, "w")
        self.proc = subprocess.Popen(
            [DPS, "serve", "--listen", "127.0.0.1:0", "--port-file", self.port_file, "--record",
             self.record, *args],
            stdout=subprocess.DEVNULL, stderr=self.err)
        deadline = time.time() + 15
        while not os.path.exists(self.port_file) or not _read(self.port_file).strip():
            if self.proc.poll() is not None:
                raise AssertionError("serve exited %d: %s" % (self.proc.returncode, self.stderr()))
            if time.time() > deadline:
                self.proc.kill()
                raise AssertionError("serve wrote no port file: " + self.stderr())
            time.sleep(0.02)
        self.port = int(_read(self.port_file))
        self.url = f"{scheme}://{host}:{self.port}"

    def stderr(self):
        return _read(self.stderr_path)

    def alive(self):
        return self.proc.poll() is None

    def stop(self):
        """SIGTERM (it answers what is in flight and flushes the record), then (exit code,
        stderr). The files stay until cleanup()."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise AssertionError("serve did not stop on SIGTERM")
        self.err.close()
        return self.proc.returncode, self.stderr()

    def records(self):
        """The record's lines as dicts (after stop)."""
        with open(self.record) as f:
            return [json.loads(line) for line in f if line.strip()]

    def cleanup(self):
        shutil.rmtree(self.dir, ignore_errors=True)

    def close(self):
        """stop() then cleanup(); returns what stop() returned."""
        try:
            return Serve.stop(self)  # not an override that calls close()
        finally:
            self.cleanup()

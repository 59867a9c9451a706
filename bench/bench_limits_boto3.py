#!/usr/bin/python3
"""bench_limits_boto3.py: the Python peer of bench/bench_limits.sh: boto3 living within a rate
limit the way botocore offers it, retries in adaptive mode (its client-side token bucket, which
slows down on throttling errors), THREADS threads sharing one client, each calling
set_task_status until its share of N distinct updates is done.

    /usr/bin/python3 bench/bench_limits_boto3.py URL --calls N [--threads 32]
        [--max-attempts 50] [--mode adaptive] [--seconds S] [--prefix P]

Dummy credentials, region us-east-1, HTTP/1.1 keep-alive (a pool of THREADS connections, so no
thread waits for a connection). Stops starting new calls after S seconds (what is left is
counted as unfinished, never as delivered). Prints one JSON object, in the shape of
`dpstatus send --output json` where it can: submitted, delivered, failed (calls that raised,
after botocore's retries), expired (always 0: boto3 has no per-update deadline), unfinished,
throttled (attempts answered ThrottlingException, counted by a needs-retry hook), retries,
errors (by code, of the calls that raised), elapsedSeconds, rate. Exit status 0 when every
update was delivered. Debian's python3-boto3.
"""
import argparse
import json
import sys
import threading
import time

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("url")
    ap.add_argument("--calls", type=int, required=True)
    ap.add_argument("--threads", type=int, default=32)
    ap.add_argument("--max-attempts", type=int, default=50)
    ap.add_argument("--mode", default="adaptive", choices=["adaptive", "standard", "legacy"])
    ap.add_argument("--seconds", type=float, default=600.0)
    ap.add_argument("--prefix", default="boto-limits")
    a = ap.parse_args()

    client = boto3.client(
        "datapipeline",
        region_name="us-east-1",
        endpoint_url=a.url,
        aws_access_key_id="AKIDBENCHLIMITS",
        aws_secret_access_key="bench-limits-secret",
        config=Config(
            retries={"mode": a.mode, "max_attempts": a.max_attempts},
            max_pool_connections=a.threads,
        ),
    )
    lock = threading.Lock()
    c = {"delivered": 0, "failed": 0, "throttled": 0, "attempts": 0, "unfinished": 0}
    errors = {}

    def on_needs_retry(response=None, **_):
        # Called once per attempt that got an answer (or an exception): a throttled attempt is
        # one whose parsed error code is ThrottlingException, the library's `throttled` too.
        code = ""
        if response is not None:
            code = (response[1] or {}).get("Error", {}).get("Code", "")
        with lock:
            c["attempts"] += 1
            if code == "ThrottlingException":
                c["throttled"] += 1

    # The hierarchical emitter calls a handler registered for the prefix on every
    # needs-retry.<service>.<operation>; returning None leaves the retry decision to botocore.
    client.meta.events.register("needs-retry", on_needs_retry)

    t0 = time.monotonic()
    end = t0 + a.seconds

    def worker(k):
        share = a.calls // a.threads + (1 if k < a.calls % a.threads else 0)
        d = f = u = 0
        for i in range(share):
            if time.monotonic() >= end:
                u = share - i
                break
            try:
                client.set_task_status(taskId="%s-%02d-%07d" % (a.prefix, k, i), taskStatus="FINISHED")
                d += 1
            except ClientError as e:  # retries exhausted or a terminal error: counted
                f += 1
                code = e.response.get("Error", {}).get("Code", "ClientError")
                with lock:
                    errors[code] = errors.get(code, 0) + 1
            except Exception as e:  # connection errors and the like: counted, not fatal
                f += 1
                with lock:
                    errors[type(e).__name__] = errors.get(type(e).__name__, 0) + 1
        with lock:
            c["delivered"] += d
            c["failed"] += f
            c["unfinished"] += u

    threads = [threading.Thread(target=worker, args=(k,), daemon=True) for k in range(a.threads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    secs = time.monotonic() - t0
    done = c["delivered"] + c["failed"]
    out = {
        "submitted": a.calls,
        "delivered": c["delivered"],
        "failed": c["failed"],
        "expired": 0,
        "unfinished": c["unfinished"],
        "throttled": c["throttled"],
        "retries": max(0, c["attempts"] - done),
        "errors": errors,
        "elapsedSeconds": round(secs, 3),
        "rate": round(c["delivered"] / secs, 3) if secs > 0 else 0,
    }
    print(json.dumps(out, separators=(",", ":")))
    return 0 if c["delivered"] == a.calls else 1


if __name__ == "__main__":
    sys.exit(main())

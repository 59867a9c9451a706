#!/usr/bin/python3
"""bench_e2e_boto3.py: the Python peer of bench/bench_e2e.sh: boto3 set_task_status in a loop,
what a Python orchestrator does today (one call at a time, each signed, HTTP/1.1 keep-alive).

    /usr/bin/python3 bench/bench_e2e_boto3.py URL [--ca-bundle FILE] [--seconds S] [--calls N]

Runs for S seconds or N calls, whichever comes first, after one untimed call that opens the
connection. Prints key=value lines (calls, errors, seconds, rate). Debian's python3-boto3.
"""
import argparse
import sys
import time

import boto3
from botocore.config import Config


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("url")
    ap.add_argument("--ca-bundle")
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--calls", type=int, default=2000)
    a = ap.parse_args()
    client = boto3.client(
        "datapipeline",
        region_name="us-east-1",
        endpoint_url=a.url,
        verify=a.ca_bundle if a.ca_bundle else True,
        aws_access_key_id="AKIDBENCHE2E",
        aws_secret_access_key="bench-e2e-secret",
        config=Config(retries={"mode": "standard", "max_attempts": 1}),
    )
    client.set_task_status(taskId="boto-warmup", taskStatus="FINISHED")
    ok = errors = 0
    first_error = ""
    t0 = time.monotonic()
    end = t0 + a.seconds
    i = 0
    while i < a.calls and time.monotonic() < end:
        try:
            client.set_task_status(taskId="boto-task-%07d" % i, taskStatus="FINISHED")
            ok += 1
        except Exception as e:  # counted, not fatal: the rate is what is measured
            errors += 1
            first_error = first_error or repr(e)
        i += 1
    secs = time.monotonic() - t0
    print("calls=%d\nerrors=%d\nseconds=%.4f\nrate=%.1f" % (ok, errors, secs, ok / secs))
    if first_error:
        print("first_error=%s" % first_error)
    return 0 if errors == 0 and ok > 0 else 1


if __name__ == "__main__":
    sys.exit(main())

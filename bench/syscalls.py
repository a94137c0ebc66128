#!/usr/bin/env python3
"""Where a proxied call's CPU goes, per request: user and system time (/proc/PID/stat), and the
system calls and context switches behind the system time (perf's tracepoints), for apigw, nginx
and the bare proxy under the same wrk load as bench/run.py. A count that differs between the
systems (an extra recvfrom per call, say) shows up here where CPU time alone only looks noisy.

Usage: bench/syscalls.py [--rounds 3] [--duration 5] [--apigw PATH] [--path /plain] [--redis URL]
       (needs nginx and wrk; perf for the counts, else only the user/system split is printed)
"""

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(__file__))
import run as bench  # noqa: E402  (nginx, setup_apigw, ports)

CALLS = ["epoll_wait", "recvfrom", "sendto", "read", "write", "readv", "writev"]
EVENTS = ["raw_syscalls:sys_enter", "context-switches"] + [f"syscalls:sys_enter_{c}" for c in CALLS]


def user_sys_ticks(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]), int(fields[12])


def measure(url, pid, duration, connections, perf):
    u0, s0 = user_sys_ticks(pid)
    stat = None
    if perf:
        stat = subprocess.Popen(["perf", "stat", "-x,", "-e", ",".join(EVENTS), "-p", str(pid)],
                                stderr=subprocess.PIPE, text=True)
        time.sleep(0.2)
    out = subprocess.run(["wrk", "-t1", f"-c{connections}", f"-d{duration}s", "--latency", url],
                         capture_output=True, text=True, check=True).stdout
    counts = {}
    if stat:
        stat.send_signal(2)
        for line in stat.communicate()[1].splitlines():
            parts = line.split(",")
            if len(parts) > 2 and parts[0].strip().isdigit():
                name = parts[2].split(":")[-1].replace("sys_enter_", "")
                counts["syscalls" if name == "sys_enter" else name] = int(parts[0])
    u1, s1 = user_sys_ticks(pid)
    n = int(re.search(r"(\d+) requests in", out).group(1))
    p99 = re.search(r"^\s+99%\s+(\S+)", out, re.M).group(1)
    clk = os.sysconf("SC_CLK_TCK")
    return n, p99, (u1 - u0) / clk * 1e6 / n, (s1 - s0) / clk * 1e6 / n, {k: v / n for k, v in counts.items()}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--duration", type=int, default=5)
    ap.add_argument("--connections", type=int, default=50)
    ap.add_argument("--apigw", default="target/release/apigw")
    ap.add_argument("--bare", default="target/release/examples/bare_proxy")
    ap.add_argument("--path", default="/plain", help="the apigw API to call (bench/run.py's set-up)")
    ap.add_argument("--redis", help="keep apigw's rate_limit counters in this Redis (redis://…): /limited as apigw+redis")
    args = ap.parse_args()
    for tool in ("nginx", "wrk"):
        if not shutil.which(tool):
            sys.exit(f"{tool} is needed (apt-get install nginx-light wrk)")
    perf = shutil.which("perf") is not None
    if not perf:
        print("perf not found: user/system split only (apt-get install linux-perf)")
    tmp = tempfile.mkdtemp(prefix="apigw-syscalls-")
    procs = [bench.nginx(tmp, "backend", bench.BACKEND_BODY.format(port=bench.BACKEND))]
    try:
        proxy = bench.nginx(tmp, "proxy", bench.PROXY_BODY.format(backend=bench.BACKEND, port=bench.NGINX, extra=""))
        procs.append(proxy)
        data = os.path.join(tmp, "data")
        env = dict(os.environ, APIGW_DATA_DIR=data, APIGW_ADMIN_ADDR=f"127.0.0.1:{bench.ADMIN}",
                   APIGW_GATEWAY_ADDR=f"127.0.0.1:{bench.APIGW}",
                   APIGW_GATEWAY_TLS_ADDR="127.0.0.1:0", APIGW_WORKER_THREADS="1", RUST_LOG="warn")
        if args.redis:
            env["APIGW_REDIS_URL"] = args.redis
        gw = subprocess.Popen([args.apigw, "serve"], env=env, stdout=subprocess.DEVNULL)
        procs.append(gw)
        for port in (bench.BACKEND, bench.NGINX, bench.APIGW, bench.ADMIN):
            bench.wait_port(port)
        bench.setup_apigw(data)
        # nginx's worker (the master only forks it) serves the calls.
        systems = {"apigw": (f"http://127.0.0.1:{bench.APIGW}{args.path}", gw.pid),
                   "nginx": (f"http://127.0.0.1:{bench.NGINX}/", bench.pids_of(proxy.pid)[-1])}
        if os.path.exists(args.bare):
            bare = subprocess.Popen([args.bare, f"127.0.0.1:{bench.BARE}", f"127.0.0.1:{bench.BACKEND}"])
            procs.append(bare)
            bench.wait_port(bench.BARE)
            systems["bare"] = (f"http://127.0.0.1:{bench.BARE}/", bare.pid)
        for url, _ in systems.values():
            subprocess.run(["wrk", "-t1", "-c10", "-d1s", url], capture_output=True, check=True)
        print(f"per request ({args.connections} connections, {args.duration} s a run)")
        for rnd in range(args.rounds):
            for name, (url, pid) in systems.items():
                n, p99, user, system, counts = measure(url, pid, args.duration, args.connections, perf)
                calls = "  ".join(f"{k} {v:.2f}" for k, v in counts.items() if v >= 0.005)
                print(f"round {rnd + 1} {name:<6} {n / args.duration:>8.0f} req/s  p99 {p99:>7}  "
                      f"user {user:5.2f} us  system {system:5.2f} us  {calls}", flush=True)
    finally:
        bench.stop(procs, tmp)


if __name__ == "__main__":
    main()

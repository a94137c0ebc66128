#!/usr/bin/env python3
"""Load balance channels (issue 22's benchmarks): what a channel of many members costs a call,
and what checking their health costs an idle gateway.

The bench's nginx backend listens on its own port and on MEMBERS more ports (one server, a
`listen` line each), so every member of the channel is a real backend of its own (its own
address, pool and connections) on the same nginx. apigw runs with one worker thread.
  cpu           /plain (one fixed backend) and /channel (the same GET through a channel of the
                members, weighted round robin, no health check) in alternating rounds of wrk,
                50 keep-alive connections: apigw's CPU per call (/proc/PID/stat), and the
                per-round ratio channel / plain (median [min..max]). Target <= 1.05.
  instructions  the same two paths under callgrind (bench/instructions.py's method): user-space
                instructions per call, repeatable on a noisy machine.
  health        two idle apigw processes side by side over the same windows: one with /plain
                only, one with /plain and /channel whose channel checks every member (HTTP
                GET /health, or TCP) every `--interval` seconds. The difference of their CPU is
                the checks' cost, in % of one core, and per member check; the nginx backend logs
                the checks it answered, so the rate is measured, not assumed. Target < 1 % of a
                core for 100 members checked every second: APIG's smallest interval is 2 s (a
                check's timeout, at least 1 s, must be below it), so the figure at 2 s is also
                given per 100 checks a second.

Usage: bench/channel.py [--modes cpu,instructions,health] [--members 100] [--rounds 7]
       [--duration 4] [--idle 30] [--health-rounds 3] [--interval 2] [--protocol HTTP|TCP]
       [--calls 4000] [--apigw target/release/apigw] [--out target/callgrind]
Needs nginx (nginx-light), wrk, valgrind (instructions mode).
"""

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(__file__))
import instructions as instr  # noqa: E402  (start_profiled, profile)
import run as bench  # noqa: E402  (nginx, admin_of, publish_api, cpu_ticks, wrk, ports)

FIRST_MEMBER = 18300

MEMBERS_BODY = """
  server {{
    listen 127.0.0.1:{port};
{listens}
    location / {{ default_type text/plain; return 200 "hello from the backend\\n"; }}
    location = /health {{ access_log {log}; default_type text/plain; return 200 "ok\\n"; }}
  }}
"""


def backend(tmp, members):
    """The bench's backend nginx on BACKEND and `members` more ports; its health-check log."""
    listens = "\n".join(f"    listen 127.0.0.1:{FIRST_MEMBER + i};" for i in range(members))
    log = os.path.join(tmp, "health.log")
    proc = bench.nginx(tmp, "backend", MEMBERS_BODY.format(port=bench.BACKEND, listens=listens, log=log))
    bench.wait_port(bench.BACKEND)
    bench.wait_port(FIRST_MEMBER + members - 1)
    return proc, log


def start(tmp, name, gateway, admin_port):
    data = os.path.join(tmp, name)
    env = dict(os.environ, APIGW_DATA_DIR=data, APIGW_ADMIN_ADDR=f"127.0.0.1:{admin_port}",
               APIGW_GATEWAY_ADDR=f"127.0.0.1:{gateway}", APIGW_GATEWAY_TLS_ADDR="127.0.0.1:0",
               APIGW_WORKER_THREADS="1", RUST_LOG="warn")
    return env, data


def setup(call, members, health=None):
    """/plain on the fixed backend; with `members`, /channel through a round-robin channel of
    them (checked with `health` when given)."""
    bench.publish_api(call, "plain_api", "/plain")
    if not members:
        return
    body = {"name": "bench_channel", "port": bench.BACKEND, "balance_strategy": 1, "member_type": "ip",
            "type": 2, "members": [{"host": "127.0.0.1", "port": FIRST_MEMBER + i, "weight": 1}
                                   for i in range(members)]}
    if health:
        body["vpc_health_config"] = health
    channel = call("POST", "/vpc-channels", body)
    bench.publish_api(call, "channel_api", "/channel", {
        "req_protocol": "HTTP", "req_method": "GET", "req_uri": "/", "timeout": 5000,
        "vpc_channel_status": 1, "vpc_channel_info": {"vpc_channel_id": channel["id"]}})


def spread(ratios):
    r = sorted(ratios)
    return f"{statistics.median(r):.3f} [{r[0]:.3f}..{r[-1]:.3f}]"


def cpu_mode(args, tmp, procs):
    env, data = start(tmp, "apigw", bench.APIGW, bench.ADMIN)
    gw = subprocess.Popen([args.apigw, "serve"], env=env, stdout=subprocess.DEVNULL)
    procs.append(gw)
    bench.wait_port(bench.ADMIN)
    bench.wait_port(bench.APIGW)
    setup(bench.admin_of(data), args.members)
    urls = {p: f"http://127.0.0.1:{bench.APIGW}{p}" for p in ("/plain", "/channel")}
    for url in urls.values():  # every member's pool gets its connections
        subprocess.run(["wrk", "-t1", "-c50", "-d2s", url], capture_output=True, check=True)
    per_call = {p: [] for p in urls}
    for rnd in range(args.rounds):
        for path, url in urls.items():
            before = bench.cpu_ticks([gw.pid])
            n, rps, p99 = bench.wrk(url, args)
            cpu_us = (bench.cpu_ticks([gw.pid]) - before) / bench.CLK * 1e6 / n
            per_call[path].append(cpu_us)
            print(f"round {rnd + 1} {path:<9} {rps:>9.0f} req/s  p99 {p99:>6.2f} ms  {cpu_us:>6.2f} CPU us/call", flush=True)
    ratios = [c / p for c, p in zip(per_call["/channel"], per_call["/plain"])]
    print(f"\napigw CPU per call, median: /plain {statistics.median(per_call['/plain']):.2f} us, "
          f"/channel ({args.members} members) {statistics.median(per_call['/channel']):.2f} us")
    print(f"channel / plain CPU per call, paired by round: {spread(ratios)}  (target <= 1.05)")


def instructions_mode(args, tmp, procs):
    gw, prefix, data = instr.start_profiled(args.apigw, tmp)
    procs.append(gw)
    setup(bench.admin_of(data), args.members)
    got = {}
    for path in ("/plain", "/channel", "/plain", "/channel"):
        # A warm-up long enough for every member to have been called a few times.
        per_call, keep = instr.profile(gw, prefix, path, args.calls, 16, args.out, warmup=10 * args.members)
        got.setdefault(path, []).append(per_call)
        print(f"{path:<9} {per_call:>9.0f} instructions per call   ({keep})", flush=True)
    plain, channel = min(got["/plain"]), min(got["/channel"])
    print(f"channel / plain instructions per call: {channel / plain:.3f} ({channel - plain:+.0f})")


def answered(log):
    """Health checks the backend has answered so far (lines of its log)."""
    try:
        with open(log) as f:
            return sum(1 for _ in f)
    except FileNotFoundError:
        return 0


def health_mode(args, tmp, procs):
    log = os.path.join(tmp, "health.log")
    health = {"protocol": args.protocol, "path": "/health", "method": "GET", "port": 0,
              "threshold_normal": 2, "threshold_abnormal": 2, "time_interval": args.interval,
              "timeout": 1, "http_code": "200"}
    gws = {}
    for name, gateway, admin_port, members in [("without", bench.APIGW_R, bench.ADMIN_R, 0),
                                                ("with", bench.APIGW, bench.ADMIN, args.members)]:
        env, data = start(tmp, name, gateway, admin_port)
        gws[name] = subprocess.Popen([args.apigw, "serve"], env=env, stdout=subprocess.DEVNULL)
        procs.append(gws[name])
        bench.wait_port(admin_port)
        bench.wait_port(gateway)
        setup(bench.admin_of(data, admin_port), members, health)
    time.sleep(2 * args.interval + 1)  # the snapshot with the channel is live, checks running
    diffs, per_check = [], []
    for rnd in range(args.health_rounds):
        lines = answered(log)
        before = {k: bench.cpu_ticks([p.pid]) for k, p in gws.items()}
        t0 = time.time()
        time.sleep(args.idle)
        spent = {k: (bench.cpu_ticks([p.pid]) - before[k]) / bench.CLK for k, p in gws.items()}
        wall = time.time() - t0
        if args.protocol == "HTTP":
            checks = answered(log) - lines
            rate = f"{checks / wall:.1f} checks/s answered"
        else:  # a bare connection leaves no trace in nginx's log: the configured rate
            checks = args.members * wall / args.interval
            rate = f"{checks / wall:.1f} checks/s configured"
        share = {k: 100 * v / wall for k, v in spent.items()}
        diff = share["with"] - share["without"]
        diffs.append(diff)
        if checks:
            per_check.append((spent["with"] - spent["without"]) / checks * 1e6)
        print(f"round {rnd + 1}: {wall:.0f} s idle, apigw CPU without the channel {share['without']:.3f} % of a core, "
              f"with it {share['with']:.3f} %, difference {diff:+.3f} %  ({rate})", flush=True)
    d = statistics.median(diffs)
    print(f"\n{args.members} members checked ({args.protocol}) every {args.interval} s: "
          f"{d:+.3f} % of one core (median of {len(diffs)} rounds, [{min(diffs):+.3f}..{max(diffs):+.3f}])")
    if per_check:
        us = statistics.median(per_check)
        print(f"per member check: {us:.1f} us of apigw CPU; {args.members} checks a second: "
              f"{us * args.members / 1e4:.3f} % of one core  (target < 1 %)")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--modes", default="cpu,instructions,health")
    ap.add_argument("--members", type=int, default=100)
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--duration", type=int, default=4)
    ap.add_argument("--connections", type=int, default=50)
    ap.add_argument("--calls", type=int, default=4000)
    ap.add_argument("--idle", type=int, default=30, help="seconds of each idle round (health)")
    ap.add_argument("--health-rounds", type=int, default=3)
    ap.add_argument("--interval", type=int, default=2, help="time_interval of the checks (2..300)")
    ap.add_argument("--protocol", default="HTTP", choices=["HTTP", "TCP"])
    ap.add_argument("--apigw", default="target/release/apigw")
    ap.add_argument("--out", default="target/callgrind", help="where the profiles are kept")
    args = ap.parse_args()
    modes = args.modes.split(",")
    for tool in ("nginx", "wrk") + (("valgrind", "callgrind_control") if "instructions" in modes else ()):
        if not shutil.which(tool):
            sys.exit(f"{tool} is needed (apt-get install nginx-light wrk valgrind)")
    for mode, run in [("cpu", cpu_mode), ("instructions", instructions_mode), ("health", health_mode)]:
        if mode not in modes:
            continue
        print(f"== {mode}", flush=True)
        tmp = tempfile.mkdtemp(prefix="apigw-channel-")
        procs = [backend(tmp, args.members)[0]]
        try:
            run(args, tmp, procs)
        finally:
            bench.stop(procs, tmp)


if __name__ == "__main__":
    main()

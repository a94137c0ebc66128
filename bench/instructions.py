#!/usr/bin/env python3
"""Instructions per call of apigw, per path, under callgrind: the repeatable figure on a shared,
noisy machine (valgrind counts user-space instructions, whatever else the machine is doing).

Starts the bench's backend (nginx), a tansu broker and a release apigw under
`valgrind --tool=callgrind`, creates the bench's APIs (bench/run.py), then for each path: a
warm-up, counters zeroed, N keep-alive calls from T concurrent clients, counters dumped. Prints
instructions per call and keeps the profiles (callgrind_annotate reads them).

With --nginx, the bench's nginx proxies (bench/run.py: plain, with the plug-ins' headers, with
limit_req) are measured the same way, each one nginx process under callgrind, and the ratios
apigw / nginx printed for /plain, /plugins and /limited: the user-space side of the CPU
comparison, exact (the kernel's side is bench/syscalls.py's).

With --bare PATH, the bare httparse proxy (crates/apigw-proxy/examples/bare_proxy/: the floor
of apigw's design, bench/run.py's `bare`) is measured the same way on /plain, and the ratio
apigw / bare printed: how much of apigw's user space is beyond that floor.

With --redis URL, the gateway keeps its rate_limit counters in that Redis (/limited is then
bench/run.py's apigw+redis).

Usage: bench/instructions.py [--calls 4000] [--clients 16] [--apigw PATH] [--out DIR] [--nginx] [--bare PATH]
                             [--redis URL] [PATH ...]
       (paths default to /plain /plugins /limited /logged /dead-logged /policies /mirrored /cached;
       /limited-minute, rate_limit at 9 999 a minute, is measured when named, with at most
       ~9 000 calls a minute)
"""

import argparse
import glob
import http.client
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(__file__))
import run as bench  # noqa: E402  (nginx, setup_apigw, ports)


def calls(path, n, clients, port=bench.APIGW):
    def one(k):
        c = http.client.HTTPConnection("127.0.0.1", port)
        for _ in range(k):
            c.request("GET", path, headers={"Origin": "https://app.example", "User-Agent": "bench"})
            r = c.getresponse()
            r.read()
            if r.status != 200:
                sys.exit(f"{path}: status {r.status}")
    ts = [threading.Thread(target=one, args=(n // clients,)) for _ in range(clients)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()


def start_profiled(apigw, tmp, redis=None):
    """A release apigw (one worker thread) under callgrind, its data in `tmp`, once it and the
    bench's backend answer: (process, profile prefix, data dir). With `redis`, its rate_limit
    counters are in that Redis."""
    data = os.path.join(tmp, "data")
    env = dict(os.environ, APIGW_DATA_DIR=data, APIGW_ADMIN_ADDR=f"127.0.0.1:{bench.ADMIN}",
               APIGW_GATEWAY_ADDR=f"127.0.0.1:{bench.APIGW}",
               APIGW_GATEWAY_TLS_ADDR="127.0.0.1:0", APIGW_WORKER_THREADS="1", RUST_LOG="warn")
    if redis:
        env["APIGW_REDIS_URL"] = redis
    prefix = os.path.join(tmp, "cg.out")
    gw = subprocess.Popen(["valgrind", "--tool=callgrind", f"--callgrind-out-file={prefix}", apigw, "serve"],
                          env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    bench.wait_port(bench.ADMIN, 120)
    bench.wait_port(bench.APIGW, 60)
    bench.wait_port(bench.BACKEND)
    return gw, prefix, data


def profile(gw, prefix, path, n, clients, out, warmup=200, port=bench.APIGW, name=""):
    """`n` calls to `path` on `port` from `clients` keep-alive clients, after `warmup` calls,
    counted by callgrind alone: (instructions per call, the profile kept in `out`)."""
    calls(path, warmup, min(clients, warmup), port)
    # Long enough for the kafka_log producer of a dead broker to find out (2 s attempts).
    time.sleep(3)
    calls(path, 16, 1, port)
    subprocess.run(["callgrind_control", "-z", str(gw.pid)], check=True, capture_output=True)
    calls(path, n, clients, port)
    time.sleep(1.0)  # the kafka_log producer sends what is queued
    before = set(glob.glob(prefix + ".*"))
    # valgrind takes the request when the process runs next: poke it while waiting, with a
    # connection to the gateway closed at once (a few thousand instructions, where an admin
    # call would add tens of thousands to the profile).
    ctl = subprocess.Popen(["callgrind_control", "-d", str(gw.pid)],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    new = set()
    for _ in range(200):
        new = set(glob.glob(prefix + ".*")) - before
        if new:
            break
        socket.create_connection(("127.0.0.1", port), 5).close()
        time.sleep(0.1)
    ctl.wait()
    if not new:
        sys.exit("callgrind wrote no profile")
    dump = new.pop()
    total = 0
    with open(dump) as f:
        for line in f:
            if line.startswith("summary:") or line.startswith("totals:"):
                total = int(line.split()[1])
    os.makedirs(out, exist_ok=True)
    keep = os.path.join(out, "callgrind" + name + path.replace("/", "_") + ".out")
    shutil.copy(dump, keep)
    return total / n, keep


# The nginx proxy each apigw path is compared with (bench/run.py's systems).
NGINX_PEERS = {
    "/plain": ("nginx", ""),
    "/plugins": ("nginx+headers", bench.PLUGIN_HEADERS),
    "/limited": ("nginx+limit", bench.LIMIT_REQ),
}


def measure_nginx(tmp, procs, apigw, args):
    """Each nginx peer of the measured paths, one process under callgrind, measured like apigw;
    prints its instructions per call and the ratio apigw / nginx."""
    rows = []
    for path, (name, extra) in NGINX_PEERS.items():
        if path not in apigw:
            continue
        tag = name.replace("+", "-")
        prefix = os.path.join(tmp, f"cg-{tag}.out")
        body = (bench.LIMIT_ZONE if "limit" in name else "") + bench.PROXY_BODY.format(
            backend=bench.BACKEND, port=bench.NGINX, extra=extra)
        proc = bench.nginx(tmp, tag, body, wrap=("valgrind", "--tool=callgrind", f"--callgrind-out-file={prefix}"))
        procs.append(proc)
        bench.wait_port(bench.NGINX, 60)
        per_call, keep = profile(proc, prefix, path, args.calls, args.clients, args.out, port=bench.NGINX, name="_" + tag)
        print(f"{name:<14} {per_call:>9.0f} instructions per call   ({keep})", flush=True)
        rows.append((path, name, per_call))
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:  # one nginx process without a master may not stop
            proc.kill()
            proc.wait()
        procs.remove(proc)
        while True:  # the port free again for the next one
            try:
                socket.create_connection(("127.0.0.1", bench.NGINX), 0.2).close()
                time.sleep(0.1)
            except OSError:
                break
    print("\nratios (apigw / nginx, instructions per call; lower is better)")
    for path, name, n in rows:
        print(f"  {path:<10} / {name:<14} {apigw[path] / n:.3f}")


def measure_bare(tmp, procs, apigw, args):
    """The bare proxy under callgrind, measured like apigw on /plain (it routes nothing: every
    path is proxied alike); prints its instructions per call and the ratio apigw / bare."""
    prefix = os.path.join(tmp, "cg-bare.out")
    proc = subprocess.Popen(["valgrind", "--tool=callgrind", f"--callgrind-out-file={prefix}", args.bare,
                             f"127.0.0.1:{bench.BARE}", f"127.0.0.1:{bench.BACKEND}"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    procs.append(proc)
    bench.wait_port(bench.BARE, 60)
    per_call, keep = profile(proc, prefix, "/plain", args.calls, args.clients, args.out, port=bench.BARE, name="_bare")
    print(f"{'bare':<14} {per_call:>9.0f} instructions per call   ({keep})", flush=True)
    if "/plain" in apigw:
        print(f"\nratio (apigw / bare, /plain, instructions per call): {apigw['/plain'] / per_call:.3f}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--calls", type=int, default=4000)
    ap.add_argument("--clients", type=int, default=16)
    ap.add_argument("--apigw", default="target/release/apigw")
    ap.add_argument("--out", default="target/callgrind")
    ap.add_argument("--redis", help="count rate_limit in this Redis (redis://…): /limited as apigw+redis")
    ap.add_argument("--nginx", action="store_true", help="also measure the bench's nginx proxies; print ratios")
    ap.add_argument("--bare", help="also measure the bare proxy at this path on /plain; print the ratio")
    ap.add_argument("paths", nargs="*", default=["/plain", "/plugins", "/limited", "/logged", "/dead-logged", "/policies", "/mirrored", "/cached"])
    args = ap.parse_args()
    kafka = any("logged" in p for p in args.paths)  # the broker is only needed for kafka_log paths
    for tool in ("nginx", "valgrind", "callgrind_control") + (("tansu",) if kafka else ()):
        if not shutil.which(tool):
            sys.exit(f"{tool} is needed (apt-get install nginx-light valgrind; tansu: see README)")
    tmp = tempfile.mkdtemp(prefix="apigw-instr-")
    procs = [bench.nginx(tmp, "backend", bench.BACKEND_BODY.format(port=bench.BACKEND))]
    try:
        url = f"tcp://127.0.0.1:{bench.KAFKA}"
        if kafka:
            procs.append(subprocess.Popen(["tansu", "broker", "--listener-url", url, "--advertised-listener-url",
                                           url, "--storage-engine", "memory://tansu/"],
                                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
            bench.wait_port(bench.KAFKA)
            subprocess.run(["tansu", "topic", "create", "bench", "--partitions", "1", "--broker", url],
                           check=True, capture_output=True)
        gw, prefix, data = start_profiled(args.apigw, tmp, args.redis)
        procs.append(gw)
        bench.setup_apigw(data)
        apigw = {}
        for path in args.paths:
            per_call, keep = profile(gw, prefix, path, args.calls, args.clients, args.out)
            apigw[path] = per_call
            print(f"{path:<14} {per_call:>9.0f} instructions per call   ({keep})", flush=True)
        if args.nginx:
            measure_nginx(tmp, procs, apigw, args)
        if args.bare:
            measure_bare(tmp, procs, apigw, args)
    finally:
        bench.stop(procs, tmp)


if __name__ == "__main__":
    main()

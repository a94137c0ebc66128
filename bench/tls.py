#!/usr/bin/env python3
"""apigw vs nginx over TLS and HTTP/2, in one run (issue 21's benchmark).

Both proxies serve the same ECDSA P-256 certificate (made here with openssl) from one worker
(nginx `worker_processes 1`, apigw `APIGW_WORKER_THREADS=1`) in front of the bench's nginx
backend, and are measured in alternating rounds:
  keepalive   wrk, 50 keep-alive HTTPS connections (HTTP/1.1): CPU per call
  handshake   wrk with `Connection: close`: every call a new connection and a full TLS
              handshake (wrk does not resume sessions): handshakes per CPU-second
  h2          h2load, one connection with 100 concurrent streams (ALPN h2): calls per
              CPU-second
CPU is read from /proc/PID/stat (utime + stime of the proxy and its children) around each run.
Prints each round, the medians, and the per-round ratios apigw / nginx (median [min..max]).

Usage: bench/tls.py [--rounds 5] [--duration 4] [--apigw target/release/apigw] [--modes keepalive,handshake,h2]
Needs nginx (nginx-light), wrk, h2load (nghttp2-client) and openssl.
"""

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(__file__))
import run as bench  # noqa: E402  (nginx, cpu_ticks, pids_of, wait_port, admin, ports)

NGINX_TLS, APIGW_TLS = 18443, 18444

TLS_PROXY_BODY = """
  upstream backend {{ server 127.0.0.1:{backend}; keepalive 128; }}
  http2_max_requests 100000000;
  server {{
    listen 127.0.0.1:{port} ssl http2;
    ssl_certificate {cert};
    ssl_certificate_key {key};
    ssl_protocols TLSv1.2 TLSv1.3;
    location / {{
      proxy_pass http://backend;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
    }}
  }}
"""


def certificate(tmp):
    """An ECDSA P-256 self-signed certificate for localhost and 127.0.0.1: (cert, key) paths."""
    cert, key = os.path.join(tmp, "cert.pem"), os.path.join(tmp, "key.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                    "-nodes", "-keyout", key, "-out", cert, "-days", "2", "-subj", "/CN=localhost",
                    "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"], check=True, capture_output=True)
    return cert, key


def setup_api(data_dir):
    """An API at /tls on the DEFAULT group, served over HTTP and HTTPS (`BOTH`)."""
    c = json.load(open(os.path.join(data_dir, "credentials.json")))
    base = f"/v2/{c['project_id']}/apigw/instances/{c['instance_id']}"

    def call(method, path, body=None):
        return bench.admin(method, path, c["token"], base, body)

    group = call("GET", "/api-groups?name=DEFAULT&precise_search=name")["groups"][0]["id"]
    api = call("POST", "/apis", {
        "name": "tls_api", "type": 1, "req_protocol": "BOTH", "req_method": "GET", "req_uri": "/tls",
        "auth_type": "NONE", "backend_type": "HTTP", "group_id": group,
        "backend_api": {"url_domain": f"127.0.0.1:{bench.BACKEND}", "req_protocol": "HTTP",
                        "req_method": "GET", "req_uri": "/", "timeout": 5000}})
    call("POST", "/apis/action", {"action": "online", "env_id": "DEFAULT_ENVIRONMENT_RELEASE_ID", "api_id": api["id"]})


def run_wrk(url, duration, close):
    cmd = ["wrk", "-t1", "-c50", f"-d{duration}s", url]
    if close:
        cmd[1:1] = ["-H", "Connection: close"]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    n = int(re.search(r"(\d+) requests in", out).group(1))
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if errors:
        sys.exit(f"{url}: {errors.group(1)} non-2xx responses\n{out}")
    return n


def run_h2load(url, duration):
    out = subprocess.run(["h2load", "-c1", "-m100", "-D", str(duration), url],
                         capture_output=True, text=True, check=True).stdout
    m = re.search(r"requests: \d+ total, \d+ started, (\d+) done, (\d+) succeeded", out)
    if not m or m.group(1) != m.group(2):
        sys.exit(f"{url}: h2load calls failed\n{out}")
    if "h2" not in re.search(r"Application protocol: (\S+)", out).group(1):
        sys.exit(f"{url}: not HTTP/2\n{out}")
    return int(m.group(2))


def measure(mode, url, pid, duration):
    """CPU microseconds per call of the process `pid` (and its children) for one run."""
    pids = bench.pids_of(pid)
    before = bench.cpu_ticks(pids)
    if mode == "h2":
        n = run_h2load(url, duration)
    else:
        n = run_wrk(url, duration, close=(mode == "handshake"))
    return (bench.cpu_ticks(pids) - before) / bench.CLK * 1e6 / n, n / duration


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--duration", type=int, default=4)
    ap.add_argument("--apigw", default="target/release/apigw")
    ap.add_argument("--modes", default="keepalive,handshake,h2")
    args = ap.parse_args()
    for tool in ("nginx", "wrk", "h2load", "openssl"):
        if not shutil.which(tool):
            sys.exit(f"{tool} is needed (apt-get install nginx-light wrk nghttp2-client)")
    tmp = tempfile.mkdtemp(prefix="apigw-tls-bench-")
    procs = []
    try:
        cert, key = certificate(tmp)
        procs.append(bench.nginx(tmp, "backend", bench.BACKEND_BODY.format(port=bench.BACKEND)))
        proxy = bench.nginx(tmp, "tlsproxy", TLS_PROXY_BODY.format(backend=bench.BACKEND, port=NGINX_TLS, cert=cert, key=key))
        procs.append(proxy)
        data = os.path.join(tmp, "apigw-data")
        os.makedirs(data, mode=0o700)
        # The same certificate as nginx's, as the instance's own.
        shutil.copy(cert, os.path.join(data, "instance.crt"))
        shutil.copy(key, os.path.join(data, "instance.key"))
        env = dict(os.environ, APIGW_DATA_DIR=data, APIGW_ADMIN_ADDR=f"127.0.0.1:{bench.ADMIN}",
                   APIGW_GATEWAY_ADDR=f"127.0.0.1:{bench.APIGW}", APIGW_GATEWAY_TLS_ADDR=f"127.0.0.1:{APIGW_TLS}",
                   APIGW_WORKER_THREADS="1", RUST_LOG="warn")
        gw = subprocess.Popen([args.apigw, "serve"], env=env, stdout=subprocess.DEVNULL)
        procs.append(gw)
        for port in (bench.BACKEND, NGINX_TLS, APIGW_TLS, bench.ADMIN):
            bench.wait_port(port)
        setup_api(data)
        systems = {"nginx": (f"https://127.0.0.1:{NGINX_TLS}/tls", proxy.pid),
                   "apigw": (f"https://127.0.0.1:{APIGW_TLS}/tls", gw.pid)}
        modes = args.modes.split(",")
        for url, _ in systems.values():
            run_wrk(url, 1, close=False)
        results = {(m, s): [] for m in modes for s in systems}
        for rnd in range(args.rounds):
            for mode in modes:
                for name, (url, pid) in systems.items():
                    cpu, rate = measure(mode, url, pid, args.duration)
                    results[(mode, name)].append((cpu, rate))
                    print(f"round {rnd + 1} {mode:<10} {name:<6} {rate:>9.0f} calls/s  {cpu:>7.2f} CPU us/call  "
                          f"{1e6 / cpu:>8.0f} calls per CPU-second", flush=True)
        print(f"\nmedians over {args.rounds} rounds of {args.duration} s")
        for (mode, name), rs in results.items():
            cpu = statistics.median(r[0] for r in rs)
            rate = statistics.median(r[1] for r in rs)
            print(f"{mode:<10} {name:<6} {rate:>9.0f} calls/s  {cpu:>7.2f} CPU us/call  {1e6 / cpu:>8.0f} calls per CPU-second")
        print("\napigw / nginx CPU per call, paired by round (median [min..max]; below 1: apigw cheaper)")
        for mode in modes:
            r = sorted(a[0] / b[0] for a, b in zip(results[(mode, "apigw")], results[(mode, "nginx")]))
            print(f"{mode:<10} {statistics.median(r):.3f} [{r[0]:.3f}..{r[-1]:.3f}]")
    finally:
        bench.stop(procs, tmp)


if __name__ == "__main__":
    main()

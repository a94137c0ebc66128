#!/usr/bin/env python3
"""apigw vs nginx on the same machine, in one run (issue 4's benchmark).

Starts a fast backend (nginx, one worker), then measures with wrk, alternating the systems
over several rounds:
  direct          wrk -> backend
  nginx           wrk -> nginx reverse proxy (one worker, upstream keep-alive) -> backend
  nginx+headers   the same with add_header equivalents of the cors + set_resp_headers plug-ins
  apigw           wrk -> apigw (one worker thread), an API with no plug-ins -> backend
  apigw+plugins   the same API shape with cors + set_resp_headers bound
  nginx+limit     nginx with limit_req far above the load
  apigw+limit     apigw with a rate_limit plug-in far above the load (local counters)
  apigw+redis     the same with cluster-wide counters in Redis (a second apigw process)
  apigw+kafka     apigw with kafka_log bound (default fields; tansu broker running)
  apigw+kafka-dead  the same with the plug-in's broker unreachable
  apigw+policies  apigw with a classic throttling policy, a 100-CIDR IP access control policy
                  and an hmac signature key
  apigw+mirror    apigw with proxy_mirror copying every call to the backend
  apigw+cache     apigw with proxy_cache: every call after the first a hit
  apigw-2w        apigw with two worker threads (APIGW_WORKER_THREADS=2), only when named in
                  --systems
  bare            a bare httparse proxy on tokio (crates/apigw-proxy/examples/bare_proxy/),
                  when built: the floor an HTTP/1 codec of apigw's own could reach
  uring           the same proxy on io_uring (bench/uring_proxy, monoio), when built: what
                  completions instead of readiness would save in system calls
For each run it reads the CPU time the proxy processes spent (/proc/PID/stat) and divides by
the requests served: the steadier figure on a shared machine. Prints the medians and the
ratios apigw / nginx.

Usage: bench/run.py [--rounds 10] [--duration 5] [--connections 50] [--apigw PATH] [--bare PATH]
       [--uring PATH] [--systems a,b,...]

Rounds alternate the systems' order (ABBA); the paired ratios come with a 95 % confidence
interval of their geometric mean, so that a step can be told from the noise.
"""

import argparse
import json
import math
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

BACKEND, NGINX, NGINX_H, NGINX_L, APIGW, ADMIN = 18081, 18082, 18083, 18084, 18090, 18190
BARE, URING = 18095, 18096
APIGW_2, ADMIN_2 = 18093, 18193
APIGW_R, ADMIN_R = 18091, 18191
KAFKA = 18092
CLK = os.sysconf("SC_CLK_TCK")

NGINX_MAIN = """
worker_processes 1;
daemon off;
pid {dir}/{name}.pid;
error_log {dir}/{name}.err warn;
events {{ worker_connections 4096; }}
http {{
  access_log off;
  keepalive_requests 1000000;
  client_body_temp_path {dir}/tmp-{name};
  proxy_temp_path {dir}/tmp-{name};
  {body}
}}
"""

BACKEND_BODY = """
  server {{ listen 127.0.0.1:{port}; location / {{ default_type text/plain; return 200 "hello from the backend\\n"; }} }}
"""

PROXY_BODY = """
  upstream backend {{ server 127.0.0.1:{backend}; keepalive 128; }}
  server {{
    listen 127.0.0.1:{port};
    location / {{
      proxy_pass http://backend;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
      {extra}
    }}
  }}
"""

# What the cors + set_resp_headers plug-ins do, in nginx terms.
PLUGIN_HEADERS = """
      proxy_hide_header Access-Control-Allow-Origin;
      add_header Access-Control-Allow-Origin $http_origin always;
      add_header Access-Control-Allow-Credentials true always;
      add_header Access-Control-Expose-Headers "X-Request-Id,X-Apig-Latency" always;
      add_header Vary Origin always;
      add_header X-Demo sss always;
"""


# nginx's request limiting, far above the load (the same work as a rate_limit plug-in).
LIMIT_ZONE = "limit_req_zone $server_name zone=all:1m rate=100000000r/s;"
LIMIT_REQ = "limit_req zone=all burst=1000000 nodelay;"


def stop(procs, tmp):
    """SIGTERM every process (SIGKILL after 10 s) and remove the scratch directory."""
    for p in procs:
        p.send_signal(signal.SIGTERM)
    for p in procs:
        try:
            p.wait(timeout=10)
        except subprocess.TimeoutExpired:
            p.kill()
    shutil.rmtree(tmp, ignore_errors=True)


def nginx(tmp, name, body, wrap=()):
    """nginx with `body` in its http block; `wrap` runs it under another program (valgrind),
    then as one process (no master) so that the program sees the serving one."""
    conf = os.path.join(tmp, f"{name}.conf")
    os.makedirs(os.path.join(tmp, f"tmp-{name}"), exist_ok=True)
    with open(conf, "w") as f:
        f.write(("master_process off;\n" if wrap else "") + NGINX_MAIN.format(dir=tmp, name=name, body=body))
    return subprocess.Popen([*wrap, "nginx", "-c", conf, "-p", tmp], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def pids_of(root):
    """The process and its children (nginx workers)."""
    out = [root]
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open(f"/proc/{d}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
                if int(fields[1]) == root:
                    out.append(int(d))
            except OSError:
                pass
    return out


def cpu_ticks(pids):
    total = 0
    for p in pids:
        try:
            with open(f"/proc/{p}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime + stime
        except OSError:
            pass
    return total


def wait_port(port, timeout=20):
    import socket
    end = time.time() + timeout
    while time.time() < end:
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    sys.exit(f"nothing listens on {port}")


def admin(method, path, token, base, body=None, port=ADMIN):
    req = urllib.request.Request(f"http://127.0.0.1:{port}{base}{path}", method=method,
                                 data=json.dumps(body).encode() if body is not None else None,
                                 headers={"X-Auth-Token": token, "Content-Type": "application/json"})
    with urllib.request.urlopen(req) as r:
        return json.loads(r.read() or b"null")


def admin_of(data_dir, port=ADMIN):
    """`call(method, path, body)` on the admin API of the apigw whose data dir is `data_dir`
    (instance routes, its own token)."""
    c = json.load(open(os.path.join(data_dir, "credentials.json")))
    base = f"/v2/{c['project_id']}/apigw/instances/{c['instance_id']}"

    def call(method, path, body=None):
        return admin(method, path, c["token"], base, body, port)
    return call


def publish_api(call, name, uri, backend=None):
    """A GET API `name` at `uri` on the DEFAULT group, published to RELEASE: its backend the
    bench's nginx, or `backend` (a `backend_api` object); its id and publish id."""
    group = call("GET", "/api-groups?name=DEFAULT&precise_search=name")["groups"][0]["id"]
    backend = backend or {"url_domain": f"127.0.0.1:{BACKEND}", "req_protocol": "HTTP",
                          "req_method": "GET", "req_uri": "/", "timeout": 5000}
    api = call("POST", "/apis", {
        "name": name, "type": 1, "req_protocol": "HTTP", "req_method": "GET", "req_uri": uri,
        "auth_type": "NONE", "backend_type": "HTTP", "group_id": group, "backend_api": backend})
    online = call("POST", "/apis/action", {"action": "online", "env_id": "DEFAULT_ENVIRONMENT_RELEASE_ID", "api_id": api["id"]})
    return api["id"], online["publish_id"]


def setup_apigw(data_dir, port=ADMIN):
    call = admin_of(data_dir, port)
    ids, publish_ids = {}, {}
    for name, uri in [("plain_api", "/plain"), ("plugin_api", "/plugins"), ("limited_api", "/limited"),
                      ("minute_limited_api", "/limited-minute"),
                      ("logged_api", "/logged"), ("dead_log_api", "/dead-logged"),
                      ("policy_api", "/policies"), ("mirrored_api", "/mirrored"),
                      ("cached_api", "/cached")]:
        ids[name], publish_ids[name] = publish_api(call, name, uri)
    for ptype, content, api in [
        ("cors", {"allow_origin": "*", "allow_credentials": True, "expose_headers": "X-Request-Id,X-Apig-Latency"}, "plugin_api"),
        ("set_resp_headers", {"response_headers": [{"name": "x-demo", "value": "sss", "action": "append"}]}, "plugin_api"),
        ("rate_limit", {"api_limit": 1000000000, "default_time_unit": "day"}, "limited_api"),
        # A limit whose numbers are as small as most configurations' (the X-RateLimit-* values):
        # for bench/instructions.py only, whose few thousand calls stay under it; wrk's load
        # would be refused.
        ("rate_limit", {"api_limit": 9999, "default_time_unit": "minute"}, "minute_limited_api"),
        ("kafka_log", {"broker_list": [f"127.0.0.1:{KAFKA}"], "topic": "bench"}, "logged_api"),
        ("kafka_log", {"broker_list": ["127.0.0.1:9"], "topic": "bench"}, "dead_log_api"),
        # Every call copied to the backend nginx (the copies cost the gateway's CPU too).
        ("proxy_mirror", {"protocol": "HTTP", "host": f"127.0.0.1:{BACKEND}", "sample_ratio": 1}, "mirrored_api"),
        # Kept an hour: after the first call every call is a hit.
        ("proxy_cache", {"cache_key": {"headers": ["x-tenant"]},
                         "cache_http_status_and_ttl": [{"http_status": [200], "ttl": 3600}]}, "cached_api"),
    ]:
        p = call("POST", "/plugins", {"plugin_name": f"bench {ptype} {api}", "plugin_type": ptype,
                                      "plugin_scope": "global", "plugin_content": json.dumps(content)})
        call("POST", f"/plugins/{p['plugin_id']}/attach", {"env_id": "DEFAULT_ENVIRONMENT_RELEASE_ID", "api_ids": [ids[api]]})
    setup_policies(call, publish_ids["policy_api"])


def setup_policies(call, publish_id):
    """The policies of SPEC §10 on one API: a classic throttling policy far above the load, an
    IP access control policy of 100 CIDRs (the caller's the last) and an hmac signature key
    (each call to the backend signed)."""
    throttle = call("POST", "/throttles", {"name": "bench", "api_call_limits": 2000000000, "time_interval": 1,
                                            "time_unit": "SECOND", "type": 1})
    call("POST", "/throttle-bindings", {"strategy_id": throttle["id"], "publish_ids": [publish_id]})
    cidrs = [f"10.{i // 256}.{i % 256}.0/24" for i in range(99)] + ["127.0.0.0/8"]
    acl = call("POST", "/acls", {"acl_name": "bench", "acl_type": "PERMIT", "entity_type": "IP",
                                 "acl_value": ",".join(cidrs)})
    call("POST", "/acl-bindings", {"acl_id": acl["id"], "publish_ids": [publish_id]})
    sign = call("POST", "/signs", {"name": "bench", "sign_type": "hmac"})
    call("POST", "/sign-bindings", {"sign_id": sign["id"], "publish_ids": [publish_id]})


LAT_RE = re.compile(r"^\s+99%\s+([\d.]+)(us|ms|s)\s*$", re.M)


# Student's t, two-sided 95 %, by degrees of freedom (1..30; beyond, 1.96).
T95 = [12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160, 2.145,
       2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042]


def interval(ratios):
    """The 95 % confidence interval of the geometric mean of per-round ratios (t on the logs)."""
    logs = [math.log(r) for r in ratios]
    if len(logs) < 2:
        return ratios[0], ratios[0]
    m, sd = statistics.mean(logs), statistics.stdev(logs)
    t = T95[len(logs) - 2] if len(logs) - 1 <= len(T95) else 1.96
    half = t * sd / math.sqrt(len(logs))
    return math.exp(m - half), math.exp(m + half)


def wrk(url, args):
    cmd = ["wrk", "-t1", f"-c{args.connections}", f"-d{args.duration}s", "--latency",
           "-H", "Origin: https://app.example", url]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    requests = int(re.search(r"(\d+) requests in", out).group(1))
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    v, unit = LAT_RE.search(out).groups()
    p99_ms = float(v) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if non2xx:
        sys.exit(f"{url}: {non2xx.group(1)} non-2xx responses\n{out}")
    return requests, rps, p99_ms


def redis_pid(url):
    """The pid of the Redis at `url` when it runs on this machine (INFO's process_id), as a
    list of at most one: its CPU per call is printed beside apigw+redis's."""
    hostport = url.split("://", 1)[-1].rsplit("@", 1)[-1].split("/", 1)[0]
    host, _, port = hostport.partition(":")
    if host not in ("127.0.0.1", "localhost", "::1"):
        return []
    try:
        with socket.create_connection((host, int(port or 6379)), timeout=2) as c:
            c.sendall(b"*2\r\n$4\r\nINFO\r\n$6\r\nserver\r\n")
            data = b""
            while b"process_id:" not in data or not data.split(b"process_id:", 1)[1].count(b"\r\n"):
                chunk = c.recv(65536)
                if not chunk:
                    break
                data += chunk
        pid = data.split(b"process_id:", 1)[1].split(b"\r\n", 1)[0]
        return [int(pid)]
    except (OSError, IndexError, ValueError):
        return []


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=10)
    ap.add_argument("--duration", type=int, default=5)
    ap.add_argument("--connections", type=int, default=50)
    ap.add_argument("--apigw", default="target/release/apigw")
    ap.add_argument("--redis", default="redis://127.0.0.1:6379/0")
    ap.add_argument("--systems", default="", help="comma-separated subset to measure (default: all)")
    ap.add_argument("--bare", default="target/release/examples/bare_proxy",
                    help="the bare httparse proxy (cargo build --release -p apigw-proxy --example bare_proxy); "
                         "measured as 'bare' when built")
    ap.add_argument("--uring", default="bench/uring_proxy/target/release/uring_proxy",
                    help="the bare proxy on io_uring (cargo build --release --manifest-path "
                         "bench/uring_proxy/Cargo.toml); measured as 'uring' when built")
    args = ap.parse_args()
    for tool in ("nginx", "wrk", "tansu"):
        if not shutil.which(tool):
            sys.exit(f"{tool} is needed (apt-get install nginx-light wrk)")
    tmp = tempfile.mkdtemp(prefix="apigw-bench-")
    procs = []
    try:
        procs.append(nginx(tmp, "backend", BACKEND_BODY.format(port=BACKEND)))
        proxy = nginx(tmp, "proxy", PROXY_BODY.format(backend=BACKEND, port=NGINX, extra=""))
        proxy_h = nginx(tmp, "proxyh", PROXY_BODY.format(backend=BACKEND, port=NGINX_H, extra=PLUGIN_HEADERS))
        proxy_l = nginx(tmp, "proxyl", LIMIT_ZONE + PROXY_BODY.format(backend=BACKEND, port=NGINX_L, extra=LIMIT_REQ))
        procs += [proxy, proxy_h, proxy_l]
        data = os.path.join(tmp, "apigw-data")
        env = dict(os.environ, APIGW_DATA_DIR=data, APIGW_ADMIN_ADDR=f"127.0.0.1:{ADMIN}",
                   APIGW_GATEWAY_ADDR=f"127.0.0.1:{APIGW}",
                   APIGW_GATEWAY_TLS_ADDR="127.0.0.1:0", APIGW_WORKER_THREADS="1", RUST_LOG="warn")
        kafka_url = f"tcp://127.0.0.1:{KAFKA}"
        broker = subprocess.Popen(["tansu", "broker", "--listener-url", kafka_url, "--advertised-listener-url", kafka_url,
                                   "--storage-engine", "memory://tansu/"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        procs.append(broker)
        wait_port(KAFKA)
        subprocess.run(["tansu", "topic", "create", "bench", "--partitions", "1", "--broker", kafka_url],
                       check=True, capture_output=True)
        gw = subprocess.Popen([args.apigw, "serve"], env=env, stdout=subprocess.DEVNULL)
        procs.append(gw)
        data_r = os.path.join(tmp, "apigw-data-redis")
        env_r = dict(env, APIGW_DATA_DIR=data_r, APIGW_ADMIN_ADDR=f"127.0.0.1:{ADMIN_R}",
                     APIGW_GATEWAY_ADDR=f"127.0.0.1:{APIGW_R}", APIGW_REDIS_URL=args.redis)
        gw_r = subprocess.Popen([args.apigw, "serve"], env=env_r, stdout=subprocess.DEVNULL)
        procs.append(gw_r)
        # Two worker threads (issue 26: CPU per call within 1.1x of one worker's), only when
        # asked for by name.
        two = "apigw-2w" in args.systems.split(",")
        if two:
            data_2 = os.path.join(tmp, "apigw-data-2w")
            env_2 = dict(env, APIGW_DATA_DIR=data_2, APIGW_ADMIN_ADDR=f"127.0.0.1:{ADMIN_2}",
                         APIGW_GATEWAY_ADDR=f"127.0.0.1:{APIGW_2}", APIGW_WORKER_THREADS="2")
            gw_2 = subprocess.Popen([args.apigw, "serve"], env=env_2, stdout=subprocess.DEVNULL)
            procs.append(gw_2)
        for port in (BACKEND, NGINX, NGINX_H, NGINX_L, APIGW, ADMIN, APIGW_R, ADMIN_R) + ((APIGW_2, ADMIN_2) if two else ()):
            wait_port(port)
        setup_apigw(data)
        setup_apigw(data_r, ADMIN_R)
        if two:
            setup_apigw(data_2, ADMIN_2)
        systems = {
            "direct": (f"http://127.0.0.1:{BACKEND}/", procs[0].pid),
            "nginx": (f"http://127.0.0.1:{NGINX}/", proxy.pid),
            "nginx+headers": (f"http://127.0.0.1:{NGINX_H}/", proxy_h.pid),
            "apigw": (f"http://127.0.0.1:{APIGW}/plain", gw.pid),
            "apigw+plugins": (f"http://127.0.0.1:{APIGW}/plugins", gw.pid),
            "apigw+policies": (f"http://127.0.0.1:{APIGW}/policies", gw.pid),
            "apigw+mirror": (f"http://127.0.0.1:{APIGW}/mirrored", gw.pid),
            "apigw+cache": (f"http://127.0.0.1:{APIGW}/cached", gw.pid),
            "nginx+limit": (f"http://127.0.0.1:{NGINX_L}/", proxy_l.pid),
            "apigw+limit": (f"http://127.0.0.1:{APIGW}/limited", gw.pid),
            "apigw+redis": (f"http://127.0.0.1:{APIGW_R}/limited", gw_r.pid, *redis_pid(args.redis)),
            "apigw+kafka": (f"http://127.0.0.1:{APIGW}/logged", gw.pid, broker.pid),
            "apigw+kafka-dead": (f"http://127.0.0.1:{APIGW}/dead-logged", gw.pid),
        }
        if two:
            systems["apigw-2w"] = (f"http://127.0.0.1:{APIGW_2}/plain", gw_2.pid)
        if os.path.exists(args.bare):
            bare = subprocess.Popen([args.bare, f"127.0.0.1:{BARE}", f"127.0.0.1:{BACKEND}"])
            procs.append(bare)
            wait_port(BARE)
            systems["bare"] = (f"http://127.0.0.1:{BARE}/", bare.pid)
        if os.path.exists(args.uring):
            uring = subprocess.Popen([args.uring, f"127.0.0.1:{URING}", f"127.0.0.1:{BACKEND}"])
            procs.append(uring)
            wait_port(URING)
            systems["uring"] = (f"http://127.0.0.1:{URING}/", uring.pid)
        # A short warm-up of each (connection pools, caches).
        if args.systems:
            wanted = args.systems.split(",")
            unknown = [w for w in wanted if w not in systems]
            if unknown:
                sys.exit(f"unknown systems {unknown}; known: {', '.join(systems)}")
            systems = {k: v for k, v in systems.items() if k in wanted}
        for url, *_ in systems.values():
            subprocess.run(["wrk", "-t1", "-c10", "-d1s", url], capture_output=True, check=True)
        results = {name: [] for name in systems}
        order = list(systems)
        for rnd in range(args.rounds):
            # Odd rounds run the systems in the reverse order (ABBA): a machine that speeds up or
            # slows down during a round, or a system that warms the next one, moves both sides
            # of a pair alike over two rounds.
            for name in order if rnd % 2 == 0 else order[::-1]:
                url, pid, *helpers = systems[name]
                pids = pids_of(pid)
                before, helpers_before = cpu_ticks(pids), cpu_ticks(helpers)
                n, rps, p99 = wrk(url, args)
                cpu_us = (cpu_ticks(pids) - before) / CLK * 1e6 / n
                results[name].append((rps, p99, cpu_us))
                # The broker's or Redis's CPU per call, where one runs for the system on this
                # machine (not in the ratios).
                extra = f"  (broker/Redis {(cpu_ticks(helpers) - helpers_before) / CLK * 1e6 / n:.2f} us/req)" if helpers else ""
                print(f"round {rnd + 1} {name:<14} {rps:>10.0f} req/s  p99 {p99:>7.2f} ms  {cpu_us:>6.2f} CPU us/req{extra}", flush=True)
        med = {name: tuple(statistics.median(r[i] for r in rs) for i in range(3)) for name, rs in results.items()}
        print("\nmedians over", args.rounds, "rounds (connections", args.connections, ", duration", args.duration, "s)")
        print(f"{'system':<14} {'req/s':>10} {'p99 ms':>8} {'CPU us/req':>11}")
        for name, (rps, p99, cpu) in med.items():
            print(f"{name:<14} {rps:>10.0f} {p99:>8.2f} {cpu:>11.2f}")
        print("\nratios (apigw / nginx; CPU and p99: lower is better, req/s: higher is better)")
        for a, b in [("apigw", "nginx"), ("apigw+plugins", "nginx+headers"), ("apigw+limit", "nginx+limit")]:
            if a in med and b in med:
                print(f"{a:<14} / {b:<14} CPU/req {med[a][2] / med[b][2]:.2f}  p99 {med[a][1] / med[b][1]:.2f}  req/s {med[a][0] / med[b][0]:.2f}")
        for what, a, b in [("kafka_log cost", "apigw+kafka", "apigw"), ("kafka_log, broker down", "apigw+kafka-dead", "apigw"),
                           ("rate_limit cost", "apigw+limit", "apigw"), ("rate_limit, Redis counters", "apigw+redis", "apigw"),
                           ("Redis counters against local ones (target req/s >= 0.9)", "apigw+redis", "apigw+limit"),
                           ("policies cost", "apigw+policies", "apigw"),
                           ("proxy_mirror cost (target CPU/req <= 1.3)", "apigw+mirror", "apigw"),
                           ("proxy_cache hit (target CPU/req <= 0.6)", "apigw+cache", "apigw")]:
            if a in med and b in med:
                print(f"{what}: {a} / {b} req/s {med[a][0] / med[b][0]:.3f}, CPU/req {med[a][2] / med[b][2]:.3f}")
        # The same comparisons round by round: the two systems of a pair ran minutes apart at
        # most, so a machine that slows down during the run moves both. Median and range.
        print("\npaired by round (median [min..max] of the per-round ratios; CI: 95 % interval of their"
              " geometric mean, Student's t on the logs — a step outside it is real)")
        for a, b in [("apigw", "nginx"), ("apigw+plugins", "nginx+headers"), ("apigw+limit", "nginx+limit"),
                     ("bare", "nginx"), ("apigw", "bare"), ("uring", "nginx"), ("uring", "bare"), ("apigw-2w", "apigw"), ("apigw+kafka", "apigw"), ("apigw+kafka-dead", "apigw"), ("apigw+redis", "apigw"), ("apigw+redis", "apigw+limit"),
                     ("apigw+policies", "apigw"), ("apigw+mirror", "apigw"), ("apigw+cache", "apigw")]:
            if a in results and b in results:
                cols = []
                for i, label in [(0, "req/s"), (2, "CPU/req"), (1, "p99")]:
                    r = sorted(x[i] / y[i] for x, y in zip(results[a], results[b]))
                    lo, hi = interval(r)
                    cols.append(f"{label} {statistics.median(r):.3f} [{r[0]:.3f}..{r[-1]:.3f}] CI {lo:.3f}..{hi:.3f}")
                print(f"{a:<16} / {b:<14} " + "  ".join(cols))
    finally:
        stop(procs, tmp)


if __name__ == "__main__":
    main()

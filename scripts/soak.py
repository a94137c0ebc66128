#!/usr/bin/env python3
"""Soak (issue #10): mixed load on apigw with plug-ins bound while the configuration changes
every second; no error the plug-ins did not intend, and memory flat.

  backend   nginx (one worker) answering 200
  apigw     APIs /plain, /plugins (cors + set_resp_headers), /limited (rate_limit: 2000 calls
            a second, so 429 APIG.0308 is intended), /breaker (breaker on 5xx, never tripped by
            a healthy backend), /logged (kafka_log to an unreachable broker: drops, never
            errors)
  load      wrk, 50 connections over the five paths; a Lua script counts 200, intended 429s
            (with the APIG.0308 body) and anything else
  changes   every second: the set_resp_headers value changes, cors is bound to /plain or
            unbound again, and a throw-away plug-in is created and deleted
  memory    VmRSS of apigw every 30 s; the first sample is taken after a 10 s warm-up

Fails (exit 1) on any unintended status, socket error or failed control-plane change, or when
the RSS at the end is more than 1.5 times the RSS after the warm-up.

Usage: scripts/soak.py --apigw PATH [--seconds 600] [--connections 50]
"""

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "bench"))
import run as bench  # noqa: E402  (nginx, wait_port, admin helpers)

BACKEND, APIGW, ADMIN = 18281, 18290, 18390
RELEASE = "DEFAULT_ENVIRONMENT_RELEASE_ID"

LUA = r"""
local paths = {"/plain", "/plugins", "/limited", "/breaker", "/logged"}
local threads = {}
function setup(thread) table.insert(threads, thread) end
function init(args)
  n, ok, throttled, other = 0, 0, 0, 0
  last_other = ""
end
function request()
  n = n + 1
  return wrk.format("GET", paths[(n % #paths) + 1], {["Origin"] = "https://app.example"})
end
function response(status, headers, body)
  if status == 200 then ok = ok + 1
  elseif status == 429 and body and body:find("APIG.0308", 1, true) then throttled = throttled + 1
  else other = other + 1; last_other = status .. " " .. (body or "") end
end
function done(summary, latency, requests)
  local o, t, x, last = 0, 0, 0, ""
  for _, th in ipairs(threads) do
    o = o + th:get("ok"); t = t + th:get("throttled"); x = x + th:get("other")
    if th:get("last_other") ~= "" then last = th:get("last_other") end
  end
  io.write(string.format("SOAK ok=%d throttled=%d other=%d\n", o, t, x))
  if last ~= "" then io.write("SOAK last_other=" .. last .. "\n") end
end
"""


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        return int(re.search(r"VmRSS:\s+(\d+) kB", f.read()).group(1))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--apigw", required=True)
    ap.add_argument("--seconds", type=int, default=600)
    ap.add_argument("--connections", type=int, default=50)
    args = ap.parse_args()
    for tool in ("nginx", "wrk"):
        if not shutil.which(tool):
            sys.exit(f"{tool} is needed (apt-get install nginx-light wrk)")
    tmp = tempfile.mkdtemp(prefix="apigw-soak-")
    procs = []
    try:
        procs.append(bench.nginx(tmp, "backend", bench.BACKEND_BODY.format(port=BACKEND)))
        data = os.path.join(tmp, "apigw-data")
        env = dict(os.environ, APIGW_DATA_DIR=data, APIGW_ADMIN_ADDR=f"127.0.0.1:{ADMIN}",
                   APIGW_GATEWAY_ADDR=f"127.0.0.1:{APIGW}",
                   APIGW_GATEWAY_TLS_ADDR="127.0.0.1:0", RUST_LOG="warn")
        log = open(os.path.join(tmp, "apigw.log"), "w")
        gw = subprocess.Popen([args.apigw, "serve"], env=env, stdout=log, stderr=subprocess.STDOUT)
        procs.append(gw)
        for port in (BACKEND, APIGW, ADMIN):
            bench.wait_port(port)
        c = json.load(open(os.path.join(data, "credentials.json")))
        base = f"/v2/{c['project_id']}/apigw/instances/{c['instance_id']}"

        def call(method, path, body=None):
            return bench.admin(method, path, c["token"], base, body, ADMIN)

        group = call("GET", "/api-groups?name=DEFAULT&precise_search=name")["groups"][0]["id"]
        ids = {}
        for name in ("plain", "plugins", "limited", "breaker", "logged"):
            api = call("POST", "/apis", {
                "name": f"soak_{name}", "type": 1, "req_protocol": "HTTP", "req_method": "GET",
                "req_uri": f"/{name}", "auth_type": "NONE", "backend_type": "HTTP", "group_id": group,
                "backend_api": {"url_domain": f"127.0.0.1:{BACKEND}", "req_protocol": "HTTP",
                                "req_method": "GET", "req_uri": "/", "timeout": 5000}})
            call("POST", "/apis/action", {"action": "online", "env_id": RELEASE, "api_id": api["id"]})
            ids[name] = api["id"]

        def plugin(name, ptype, content, api=None):
            p = call("POST", "/plugins", {"plugin_name": name, "plugin_type": ptype, "plugin_scope": "global",
                                          "plugin_content": json.dumps(content)})
            if api:
                call("POST", f"/plugins/{p['plugin_id']}/attach", {"env_id": RELEASE, "api_ids": [ids[api]]})
            return p["plugin_id"]

        cors = plugin("soak cors", "cors", {"allow_origin": "*", "expose_headers": "X-Request-Id"}, "plugins")
        headers_content = lambda v: {"response_headers": [{"name": "x-soak", "value": v, "action": "override"}]}
        headers = plugin("soak headers", "set_resp_headers", headers_content("0"), "plugins")
        plugin("soak limit", "rate_limit", {"api_limit": 2000, "default_interval": 1, "default_time_unit": "second"},
               "limited")
        plugin("soak breaker", "breaker", {
            "breaker_condition": {"breaker_type": "condition", "breaker_mode": "counter", "unhealthy_condition": json.dumps(["$context.statusCode", ">=", "500"]),
                                  "unhealthy_threshold": 10, "time_window": 10, "open_breaker_time": 10},
            "scope": "basic"}, "breaker")
        plugin("soak kafka", "kafka_log", {"broker_list": ["127.0.0.1:9"], "topic": "soak"}, "logged")

        script = os.path.join(tmp, "soak.lua")
        with open(script, "w") as f:
            f.write(LUA)
        wrk = subprocess.Popen(["wrk", "-t1", f"-c{args.connections}", f"-d{args.seconds}s", "--timeout", "5s",
                                "-s", script, f"http://127.0.0.1:{APIGW}"],
                               stdout=subprocess.PIPE, text=True)
        changes, failed_changes = 0, []
        stop = threading.Event()

        def change_config():
            nonlocal changes
            bound = False
            i = 0
            while not stop.wait(1.0):
                i += 1
                try:
                    call("PUT", f"/plugins/{headers}", {"plugin_name": "soak headers", "plugin_type": "set_resp_headers",
                                                        "plugin_scope": "global",
                                                        "plugin_content": json.dumps(headers_content(str(i)))})
                    if bound:
                        call("PUT", f"/plugins/{cors}/detach", {"env_id": RELEASE, "api_ids": [ids["plain"]]})
                    else:
                        call("POST", f"/plugins/{cors}/attach", {"env_id": RELEASE, "api_ids": [ids["plain"]]})
                    bound = not bound
                    tmp_id = plugin(f"soak temp {i}", "cors", {"allow_origin": "*"})
                    call("DELETE", f"/plugins/{tmp_id}")
                    changes += 1
                except (urllib.error.URLError, OSError) as e:
                    failed_changes.append(str(e))

        changer = threading.Thread(target=change_config, daemon=True)
        changer.start()
        time.sleep(min(10, args.seconds / 4))
        samples = [(round(time.time()), rss_kib(gw.pid))]
        print(f"RSS after warm-up: {samples[0][1]} KiB", flush=True)
        while wrk.poll() is None:
            time.sleep(1)
            if time.time() - samples[-1][0] >= 30:
                samples.append((round(time.time()), rss_kib(gw.pid)))
                print(f"RSS at {samples[-1][0] - samples[0][0]:>4} s: {samples[-1][1]} KiB", flush=True)
        samples.append((round(time.time()), rss_kib(gw.pid)))
        stop.set()
        changer.join(timeout=5)
        out = wrk.stdout.read()
        print(out)
        m = re.search(r"SOAK ok=(\d+) throttled=(\d+) other=(\d+)", out)
        ok, throttled, other = (int(x) for x in m.groups())
        sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
        socket_errors = sum(int(x) for x in sock.groups()) if sock else 0
        start_rss, end_rss = samples[0][1], samples[-1][1]
        print(f"SOAK RESULT seconds={args.seconds} calls={ok + throttled + other} ok={ok} intended_429={throttled} "
              f"unintended={other} socket_errors={socket_errors} config_changes={changes} "
              f"failed_changes={len(failed_changes)} rss_start_kib={start_rss} rss_end_kib={end_rss} "
              f"rss_max_kib={max(s[1] for s in samples)}")
        failures = []
        if other or socket_errors:
            failures.append(f"{other} unintended statuses and {socket_errors} socket errors")
        if failed_changes:
            failures.append(f"{len(failed_changes)} control-plane changes failed: {failed_changes[:3]}")
        if changes < args.seconds // 2:
            failures.append(f"only {changes} configuration changes in {args.seconds} s")
        if end_rss > 1.5 * start_rss:
            failures.append(f"RSS grew from {start_rss} to {end_rss} KiB")
        if gw.poll() is not None:
            failures.append("apigw exited")
        if failures:
            sys.exit("soak FAILED: " + "; ".join(failures))
        print("soak passed")
    finally:
        bench.stop(procs, tmp)


if __name__ == "__main__":
    main()

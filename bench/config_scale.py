#!/usr/bin/env python3
"""Control-plane cost against the number of published APIs (issue 26's item 6).

One gateway is grown to each size of --sizes in turn by importing Swagger documents of
--per-group MOCK APIs (`POST /openapi/import`, each into a new group, published in RELEASE
with the form field `env_id`). At each size, --samples times:
  create          `POST /apis` of a MOCK API (unique name and path) in the last group
  publish         `POST /apis/action` putting that API online in RELEASE
  bind            `POST /plugins/{id}/attach` of a set_resp_headers plug-in (`x-bench: 1`) to an
                  imported API in RELEASE not bound before
  bind->enforced  from sending that bind to the first answer of the gateway port, for that API
                  (its group's sub-domain as Host), that carries `x-bench`: polled in a tight
                  loop once the bind has answered (`late` counts the samples whose first call
                  after the answer still lacked the header)
  domain->served  from sending `POST /api-groups/{id}/domains` (a new name bound to the group of an
                  imported API) to the first answer of the gateway port, for that API with the new
                  name as Host, that is the API's (before: the DEFAULT group's 404); polled the
                  same way (--domains samples, 5 by default)
  group delete    `DELETE /api-groups/{id}` of an empty group made for it
each as median and p90 in ms; then the gateway's resident memory (VmRSS) after those writes;
then the gateway is restarted on the same data: `start s` is the time until its ports answer
(the first snapshot built whole), and kB/API = (RSS after the restart - RSS of a start with no
APIs) / size, the steady cost of an API (the writes leave the allocator holding more).

Usage: bench/config_scale.py [--sizes 1000,10000,100000] [--samples 20] [--domains 5]
                             [--per-group 1000]
                             [--apigw target/release/apigw] [--json FILE]
                             [--store-url postgres://postgres@127.0.0.1:5432/EMPTY_DB]
(--store-url: the gateway on PostgreSQL, with a secrets key file made for the run)
"""

import argparse
import collections
import http.client
import importlib
import json
import math
import os
import random
import secrets
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

sys.path.insert(0, os.path.dirname(__file__))
import run as bench  # noqa: E402  (wait_port, admin, stop)
multipart = importlib.import_module("import").multipart  # noqa: E402  (import.py's form body)

ADMIN, GATEWAY = 18390, 18380  # apart from run.py's and import.py's
RELEASE = "DEFAULT_ENVIRONMENT_RELEASE_ID"
COLUMNS = ["create", "publish", "bind", "bind->enforced", "domain->served", "group delete"]


def document(title, n):
    paths = {f"/{title}/r{i}": {"get": {
        "operationId": f"api_{i}", "schemes": ["http"],
        "x-apigateway-backend": {"type": "MOCK", "mockEndpoints": {"result-content": f"r{i}"}}}}
        for i in range(n)}
    return json.dumps({"swagger": "2.0", "info": {"title": title, "version": "1"}, "paths": paths})


def rss_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def p90(xs):
    return sorted(xs)[max(0, math.ceil(0.9 * len(xs)) - 1)]


def timed(fn, *a, **kw):
    t0 = time.perf_counter()
    out = fn(*a, **kw)
    return out, 1000 * (time.perf_counter() - t0)


class Gateway:
    def __init__(self, data_dir, pid):
        c = json.load(open(os.path.join(data_dir, "credentials.json")))
        self.token, self.pid = c["token"], pid
        self.base = f"/v2/{c['project_id']}/apigw/instances/{c['instance_id']}"
        self.hosts = {}  # group id -> sub-domain

    def call(self, method, path, body=None):
        return bench.admin(method, path, self.token, self.base, body, port=ADMIN)

    def host(self, group):
        if group not in self.hosts:
            self.hosts[group] = self.call("GET", f"/api-groups/{group}")["sl_domain"]
        return self.hosts[group]

    def import_group(self, title, n):
        """Imports `n` MOCK APIs into a new group `title`, published; (group id, [(api id, path)])."""
        body, ctype = multipart({"env_id": RELEASE}, document(title, n).encode())
        req = urllib.request.Request(f"http://127.0.0.1:{ADMIN}{self.base}/openapi/import", data=body,
                                     method="POST", headers={"X-Auth-Token": self.token, "Content-Type": ctype})
        with urllib.request.urlopen(req, timeout=600) as resp:
            answer = json.loads(resp.read())
        if len(answer["success"]) != n or answer["failure"]:
            sys.exit(f"import failed: {answer['failure'][:3]}")
        return answer["group_id"], [(s["id"], s["path"]) for s in answer["success"]]


def get(conn, host, path):
    """One GET through the gateway on a kept-alive connection; (status, headers)."""
    conn.request("GET", path, headers={"Host": host})
    r = conn.getresponse()
    r.read()
    return r.status, r.headers


def measure(gw, plugin, group, targets, size, samples, domains):
    """The timings, `samples` times each (`domains` times for a domain bound and a group deleted),
    at the current size; (lists by column, late count). `targets`: imported APIs, one for each
    sample and each domain."""
    out, late = {k: [] for k in COLUMNS}, 0

    def first_answer(host, path, wanted):
        """Polls `path` on `host` until `wanted(status, headers)`; the number of calls."""
        polls = 0
        while True:
            polls += 1
            if wanted(*get(conn, host, path)):
                return polls

    for i in range(samples):
        name = f"scale_new_{size}_{i}"
        api, ms = timed(gw.call, "POST", "/apis", {
            "name": name, "type": 1, "req_protocol": "HTTP", "req_method": "GET",
            "req_uri": f"/scale-new/{size}/{i}", "auth_type": "NONE", "backend_type": "MOCK",
            "group_id": group, "mock_info": {"status_code": 200, "result_content": "new"}})
        out["create"].append(ms)
        _, ms = timed(gw.call, "POST", "/apis/action",
                      {"action": "online", "env_id": RELEASE, "api_id": api["id"]})
        out["publish"].append(ms)

        api_id, g, path = targets.pop()
        conn = http.client.HTTPConnection("127.0.0.1", GATEWAY, timeout=10)
        status, headers = get(conn, gw.host(g), path)
        if status != 200 or "x-bench" in headers:
            sys.exit(f"{path} before the bind: {status}, x-bench {headers.get('x-bench')}")
        t0 = time.perf_counter()
        gw.call("POST", f"/plugins/{plugin}/attach", {"env_id": RELEASE, "api_ids": [api_id]})
        t1 = time.perf_counter()
        polls = first_answer(gw.host(g), path, lambda _, h: h.get("x-bench") == "1")
        t2 = time.perf_counter()
        conn.close()
        late += polls > 1
        out["bind"].append(1000 * (t1 - t0))
        out["bind->enforced"].append(1000 * (t2 - t0))
    for i in range(domains):
        _, g, path = targets.pop()
        name = f"d{size}-{i}.scale.example"
        conn = http.client.HTTPConnection("127.0.0.1", GATEWAY, timeout=10)
        status, _ = get(conn, name, path)
        if status != 404:
            sys.exit(f"{path} on {name} before the domain is bound: {status}")
        t0 = time.perf_counter()
        gw.call("POST", f"/api-groups/{g}/domains", {"url_domain": name})
        first_answer(name, path, lambda status, _: status == 200)
        out["domain->served"].append(1000 * (time.perf_counter() - t0))
        conn.close()
        made = gw.call("POST", "/api-groups", {"name": f"scale_gone_{size}_{i}"})
        _, ms = timed(gw.call, "DELETE", f"/api-groups/{made['id']}")
        out["group delete"].append(ms)
    return out, late


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="1000,10000,100000")
    ap.add_argument("--samples", type=int, default=20)
    ap.add_argument("--domains", type=int, default=5,
                    help="domains bound (to distinct groups where there are enough) and groups deleted")
    ap.add_argument("--per-group", type=int, default=1000, help="APIs per imported document (group)")
    ap.add_argument("--apigw", default="target/release/apigw")
    ap.add_argument("--json", help="write the results to this file")
    ap.add_argument("--store-url", help="an empty PostgreSQL database (postgres://…) instead of "
                    "the embedded SQLite")
    args = ap.parse_args()
    sizes = sorted(int(s) for s in args.sizes.split(","))
    tmp = tempfile.mkdtemp(prefix="apigw-scale-")
    env = dict(os.environ, APIGW_DATA_DIR=tmp, APIGW_ADMIN_ADDR=f"127.0.0.1:{ADMIN}",
               APIGW_GATEWAY_ADDR=f"127.0.0.1:{GATEWAY}", APIGW_GATEWAY_TLS_ADDR="127.0.0.1:0",
               RUST_LOG="warn")
    if args.store_url:
        keys = os.path.join(tmp, "cluster.key")
        with open(keys, "w") as f:
            f.write(f"{secrets.token_hex(4)}:{secrets.token_hex(32)}\n")
        env.update(APIGW_STORE_URL=args.store_url, APIGW_SECRETS_KEY_FILE=keys)
    procs = [subprocess.Popen([args.apigw, "serve"], env=env, stdout=subprocess.DEVNULL)]
    proc = procs[0]
    results = []
    try:
        bench.wait_port(ADMIN)
        bench.wait_port(GATEWAY)
        gw = Gateway(tmp, proc.pid)
        plugin = gw.call("POST", "/plugins", {
            "plugin_name": "scale_headers", "plugin_type": "set_resp_headers", "plugin_scope": "global",
            "plugin_content": json.dumps({"response_headers": [
                {"name": "x-bench", "value": "1", "action": "override"}]})})["plugin_id"]
        time.sleep(0.5)
        rss0 = rss_kb(proc.pid)
        print(f"gateway pid {proc.pid}, RSS at start {rss0 / 1024:.1f} MB")
        count, groups, imported, rng = 0, 0, [], random.Random(26)
        domained = collections.Counter()  # domains bound, by group
        for size in sizes:
            t0, docs = time.perf_counter(), 0
            while count < size:
                n = min(args.per_group, size - count)
                group, apis = gw.import_group(f"scale_{groups}", n)
                imported += [(a, group, p) for a, p in apis]
                count, groups, docs = count + n, groups + 1, docs + 1
            seed = time.perf_counter() - t0
            print(f"seeded to {size} APIs: {docs} imports in {seed:.1f} s"
                  f" ({1000 * seed / max(docs, 1):.0f} ms per import)")
            rng.shuffle(imported)  # bind targets spread over all the groups, none bound twice
            # Domains: at most 5 per group (APIG's limit), spread over the groups.
            for_domains = []
            for t in list(imported):
                if len(for_domains) < args.domains and domained[t[1]] < 5:
                    domained[t[1]] += 1
                    for_domains.append(t)
                    imported.remove(t)
            targets = for_domains + [imported.pop() for _ in range(args.samples)]
            timings, late = measure(gw, plugin, group, targets, size, args.samples,
                                    len(for_domains))
            count += args.samples
            rss = rss_kb(proc.pid)
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=60)
            t0 = time.perf_counter()
            proc = procs[0] = subprocess.Popen([args.apigw, "serve"], env=env, stdout=subprocess.DEVNULL)
            bench.wait_port(ADMIN, timeout=300)
            bench.wait_port(GATEWAY, timeout=300)
            start_s = time.perf_counter() - t0
            time.sleep(0.5)
            rss_steady = rss_kb(proc.pid)
            row = {"size": size, "seed_s": round(seed, 2), "rss_mb": round(rss / 1024, 1),
                   "start_s": round(start_s, 2), "rss_restart_mb": round(rss_steady / 1024, 1),
                   "kb_per_api": round((rss_steady - rss0) / size, 2), "late": late}
            for k in COLUMNS:
                row[k] = {"median_ms": round(statistics.median(timings[k]), 2),
                          "p90_ms": round(p90(timings[k]), 2)}
            results.append(row)
            print(f"{size} APIs: " + ", ".join(
                f"{k} {row[k]['median_ms']:.1f}/{row[k]['p90_ms']:.1f} ms" for k in COLUMNS)
                + f" (median/p90), late {late}/{args.samples}, RSS {row['rss_mb']} MB;"
                f" restarted in {row['start_s']} s, RSS {row['rss_restart_mb']} MB,"
                f" {row['kb_per_api']} kB/API")
        print(f"\ntimes in ms, median / p90\n{'APIs':>8} {'seed s':>7} " + " ".join(f"{k:>17}" for k in COLUMNS)
              + f" {'late':>5} {'RSS MB':>7} {'start s':>8} {'RSS MB':>7} {'kB/API':>7}")
        for r in results:
            print(f"{r['size']:>8} {r['seed_s']:>7.1f} " + " ".join(
                f"{r[k]['median_ms']:>8.1f} /{r[k]['p90_ms']:>7.1f}" for k in COLUMNS)
                + f" {r['late']:>5} {r['rss_mb']:>7.1f} {r['start_s']:>8.2f} {r['rss_restart_mb']:>7.1f}"
                f" {r['kb_per_api']:>7.2f}")
        if args.json:
            with open(args.json, "w") as f:
                json.dump({"rss_start_mb": round(rss0 / 1024, 1), "samples": args.samples,
                           "per_group": args.per_group, "results": results}, f, indent=2)
    finally:
        bench.stop(procs, tmp)


if __name__ == "__main__":
    main()

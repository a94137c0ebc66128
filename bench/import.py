#!/usr/bin/env python3
"""Importing 1 000 APIs with plug-ins (issue 24's benchmark): the wall time of one
`POST /openapi/import` of a Swagger document of N operations, each naming a plug-in in
`x-apigateway-plugins`, published in RELEASE with the form field `env_id`; then the time from
the import's answer to the first 200 of the last route through the data plane. Rounds import
into new groups of the same instance (so later rounds also show the cost of the routes already
there).

Usage: bench/import.py [--apis 1000] [--rounds 5] [--apigw target/release/apigw]
"""

import argparse
import http.client
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

sys.path.insert(0, os.path.dirname(__file__))
import run as bench  # noqa: E402  (wait_port, admin, stop)

ADMIN, GATEWAY = 18290, 18280  # apart from run.py's, so both can run at once


def document(title, n):
    paths = {f"/{title}/r{i}": {"get": {
        "operationId": f"api_{i}", "schemes": ["http"], "x-apigateway-plugins": ["bench_cors"],
        "x-apigateway-backend": {"type": "MOCK", "mockEndpoints": {"result-content": f"r{i}"}}}}
        for i in range(n)}
    return json.dumps({"swagger": "2.0", "info": {"title": title, "version": "1"}, "paths": paths})


def multipart(fields, file_bytes):
    b = "----apigw-bench"
    out = b""
    for k, v in fields.items():
        out += f"--{b}\r\nContent-Disposition: form-data; name=\"{k}\"\r\n\r\n{v}\r\n".encode()
    out += f"--{b}\r\nContent-Disposition: form-data; name=\"file_name\"; filename=\"a.json\"\r\n\r\n".encode()
    out += file_bytes + f"\r\n--{b}--\r\n".encode()
    return out, f"multipart/form-data; boundary={b}"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--apis", type=int, default=1000)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--apigw", default="target/release/apigw")
    args = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="apigw-import-")
    env = dict(os.environ, APIGW_DATA_DIR=tmp, APIGW_ADMIN_ADDR=f"127.0.0.1:{ADMIN}",
               APIGW_GATEWAY_ADDR=f"127.0.0.1:{GATEWAY}", APIGW_GATEWAY_TLS_ADDR="127.0.0.1:0",
               RUST_LOG="warn")
    gw = subprocess.Popen([args.apigw, "serve"], env=env, stdout=subprocess.DEVNULL)
    try:
        bench.wait_port(ADMIN)
        c = json.load(open(os.path.join(tmp, "credentials.json")))
        base = f"/v2/{c['project_id']}/apigw/instances/{c['instance_id']}"
        bench.admin("POST", "/plugins", c["token"], base, port=ADMIN, body={
            "plugin_name": "bench_cors", "plugin_type": "cors", "plugin_scope": "global",
            "plugin_content": json.dumps({"allow_origin": "*"})})
        imports, served = [], []
        for r in range(args.rounds):
            title = f"bench_{r}"
            body, ctype = multipart({"env_id": "DEFAULT_ENVIRONMENT_RELEASE_ID"},
                                    document(title, args.apis).encode())
            req = urllib.request.Request(f"http://127.0.0.1:{ADMIN}{base}/openapi/import",
                                         data=body, method="POST",
                                         headers={"X-Auth-Token": c["token"], "Content-Type": ctype})
            t0 = time.perf_counter()
            with urllib.request.urlopen(req) as resp:
                answer = json.loads(resp.read())
            t1 = time.perf_counter()
            if len(answer["success"]) != args.apis or answer["failure"]:
                sys.exit(f"import failed: {answer['failure'][:3]}")
            group = answer["group_id"]
            host = bench.admin("GET", f"/api-groups/{group}", c["token"], base, port=ADMIN)["sl_domain"]
            while True:
                conn = http.client.HTTPConnection("127.0.0.1", GATEWAY)
                conn.request("GET", f"/{title}/r{args.apis - 1}", headers={"Host": host})
                status = conn.getresponse().status
                conn.close()
                if status == 200:
                    break
            t2 = time.perf_counter()
            imports.append(t1 - t0)
            served.append(t2 - t1)
            print(f"round {r}: import of {args.apis} APIs {1000 * (t1 - t0):.0f} ms; "
                  f"last route served {1000 * (t2 - t1):.1f} ms after the answer")
        print(f"median: import {1000 * statistics.median(imports):.0f} ms "
              f"(target < 5000), served after {1000 * statistics.median(served):.1f} ms (target < 100)")
    finally:
        bench.stop([gw], tmp)


if __name__ == "__main__":
    main()

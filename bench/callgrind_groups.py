#!/usr/bin/env python3
"""Instructions per call of callgrind profiles (bench/instructions.py keeps them), summed by
what the code does: the shared layers (httparse, tokio), apigw's parts of a call, the libraries
they pull in. `callgrind_annotate` cannot split these builds (LTO inlines the whole serving
loop, and it reports one function), so the exclusive cost of each `fn=` record is read here and
its function's name decides its group: the first pattern that matches.

Usage: bench/callgrind_groups.py [--calls 4000] PROFILE ...
       e.g. bench/callgrind_groups.py target/callgrind/callgrind_plain.out target/callgrind/callgrind_bare_plain.out
"""

import argparse
import collections
import re

GROUPS = [
    ("the bare proxy's own code", r"^bare_proxy::"),
    ("httparse, both heads", r"^httparse::"),
    ("tokio: task polls, I/O readiness, timers", r"^<?tokio::|mio::"),
    ("allocator", r"mi_|malloc|free|_int_"),
    ("memcpy, memcmp, memmove", r"__mem"),
    ("clock reads and Instant arithmetic", r"Timespec|clock_gettime|Clock::now"),
    ("libc's send/recv wrappers, cancellation bookkeeping", r"^recv|^send|^__libc_send|^__libc_recv|asynccancel"),
    ("the client's head, the loop, the answer written", r"server::h1::|ClientIo|Answering"),
    ("the backend's head into Headers", r"upstream::h1::parse_response|HeadScratch|upstream::role|answer::|ConnectionOptions"
                                        r"|content_length|Conn::read_head|Conn::poll_fill"),
    ("the backend request built and sent", r"encode_head|push_line|Upstream::send|backend_path|push_ip"
                                           r"|Conn::exchange|write_request|DrivenBody|pool"),
    ("the call: host, route, context, chain, finish, metrics", r"server::handle|server::context|server::finish"
                                                               r"|server::proxy|router::|Snapshot|names::|metrics"
                                                               r"|chain|CallBody|server::answered"),
    ("http's names, values, URIs; Bytes reference counts", r"^<?http::|bytes::|str::converts::from_utf8"
                                                            r"|drop_in_place<\[\(http"),
]

FN = re.compile(r"^fn=\((\d+)\)(?: (.*))?$")
CALLED = re.compile(r"^cfn=\((\d+)\)(?: (.*))?$")


def exclusive(path):
    """Instructions by function name, each function's own (not those of what it calls)."""
    names, cost, fn, inclusive_line = {}, collections.Counter(), None, False
    with open(path) as f:
        for line in f:
            line = line.rstrip("\n")
            m = FN.match(line) or CALLED.match(line)
            if m:
                if m.group(2):
                    names[m.group(1)] = m.group(2)
                if line.startswith("fn="):
                    fn = names[m.group(1)]
                continue
            if line.startswith("calls="):
                inclusive_line = True  # the next cost line is the call's, inclusive
                continue
            if line[:1].isdigit() or line[:1] in ("+", "-", "*"):
                parts = line.split()
                if len(parts) >= 2:
                    if not inclusive_line:
                        cost[fn] += int(parts[1])
                    inclusive_line = False
    return cost


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--calls", type=int, default=4000, help="calls the profile counted (bench/instructions.py's --calls)")
    ap.add_argument("profiles", nargs="+")
    args = ap.parse_args()
    for path in args.profiles:
        sums, other = collections.Counter(), collections.Counter()
        for name, n in exclusive(path).items():
            group = next((g for g, p in GROUPS if re.search(p, name or "")), None)
            (sums if group else other)[group or name] += n
        print(f"== {path}")
        for g, _ in GROUPS:
            print(f"{sums[g] / args.calls:8.0f}  {g}")
        print(f"{sum(other.values()) / args.calls:8.0f}  other; the largest:")
        for name, n in other.most_common(8):
            print(f"{'':10}{n / args.calls:6.0f}  {name[:110]}")
        total = sum(sums.values()) + sum(other.values())
        print(f"{total / args.calls:8.0f}  total")


if __name__ == "__main__":
    main()

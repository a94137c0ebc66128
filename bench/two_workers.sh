#!/bin/bash
# Where a second worker thread's CPU goes: runs one 20 s round of apigw-2w (bench/run.py) and,
# 13 s into it, counts the process's context switches and system calls for 5 s (perf stat)
# and prints each thread's CPU ticks so far (how the load is split between the workers).
# Usage: bench/two_workers.sh PATH-TO-APIGW   (needs perf, nginx and wrk, as bench/run.py)
set -euo pipefail
cd "$(dirname "$0")/.."
apigw=${1:?usage: bench/two_workers.sh PATH-TO-APIGW}
out=$(mktemp)
python3 bench/run.py --apigw "$apigw" --systems apigw-2w --rounds 1 --duration 20 > "$out" 2>&1 &
run=$!
sleep 13
pid=$(ss -ltnp | grep ":18093 " | grep -o "pid=[0-9]*" | head -1 | cut -d= -f2)
perf stat -e context-switches,syscalls:sys_enter_epoll_wait,syscalls:sys_enter_futex,syscalls:sys_enter_recvfrom,syscalls:sys_enter_sendto \
    -p "$pid" -- sleep 5 2>&1 | grep -E "^\s+[0-9]"
for t in /proc/"$pid"/task/*; do echo "thread $(cat "$t"/comm): $(awk '{print $14+$15}' "$t"/stat) ticks"; done
wait $run
grep -A2 "^system" "$out"
rm -f "$out"

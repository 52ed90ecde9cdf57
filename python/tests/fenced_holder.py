"""A lock holder in a process of its own, for the stale-holder test: takes the lock at PATH,
says "held", then on each "write" line from stdin puts its name at REGISTER through the
lock's fence and prints the outcome as a JSON line."""

from __future__ import annotations

import json
import sys

import zkha

hosts, path, register = sys.argv[1:4]
with zkha.Client(hosts, session_timeout=2) as client:
    guard = client.lock(path).acquire(10)
    fence = guard.fence()
    print(json.dumps({"event": "held", "token": fence.token}), flush=True)
    for _line in sys.stdin:
        try:
            fence.put(register, b"child")
            print(json.dumps({"event": "written"}), flush=True)
        except zkha.ZkhaError as e:
            out = {"event": "refused", "kind": e.kind, "unknown": e.outcome_unknown, "why": str(e)}
            print(json.dumps(out), flush=True)

"""A contender process for the cross-process election test: joins, reports every event as a
JSON line, until killed."""

from __future__ import annotations

import json
import sys

import zkha

hosts, path, pid_name = sys.argv[1:4]
with zkha.Client(hosts, session_timeout=4) as client:
    election = client.election(path, pid_name)
    print(json.dumps({"event": "joined"}), flush=True)
    for ev in election.events():
        token = ev.leadership.fencing_token if ev.leadership else None
        print(json.dumps({"event": ev.kind, "token": token, "reason": ev.reason}), flush=True)

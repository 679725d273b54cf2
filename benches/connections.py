#!/usr/bin/env python3
"""Memory with the connection cap full: RSS of the server holding N keep-alive connections.

Starts the service (tests/tools/service.py) with MAX_CONNECTIONS=N and a long header
timeout, opens N connections that each made one request and then stay idle, and
prints the server's resident memory before and at the cap, and whether one more
connection waits. Only 127.0.0.1; bounded: N connections, a few seconds.

Usage: benches/connections.py [--binary target/release/items-api] [--connections 1024]
"""

import argparse
import socket
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "tools"))
from service import Service  # noqa: E402  (the shared start/wait/stop helper)

REQUEST = b"GET /api/health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--binary", type=Path)
    parser.add_argument("--connections", type=int, default=1024)
    args = parser.parse_args()
    env = {"MAX_CONNECTIONS": str(args.connections), "HEADER_READ_TIMEOUT_MS": "60000", "LOG_LEVEL": "warn"}
    with Service(binary=args.binary, env=env) as service:
        pid = service.process.pid
        before = rss_kb(pid)
        held = []
        for _ in range(args.connections):
            s = socket.create_connection(("127.0.0.1", service.port), timeout=10)
            s.sendall(REQUEST)
            if not s.recv(4096).startswith(b"HTTP/1.1 200"):
                raise RuntimeError("no 200")
            held.append(s)
        time.sleep(0.5)
        at_cap = rss_kb(pid)
        extra = socket.create_connection(("127.0.0.1", service.port), timeout=1)
        extra.sendall(REQUEST)
        try:
            extra.recv(4096)
            waited = False
        except socket.timeout:
            waited = True
        print(f"connections: {len(held)} held at MAX_CONNECTIONS={args.connections}; "
              f"RSS {before / 1024:.1f} MB idle, {at_cap / 1024:.1f} MB at the cap "
              f"({(at_cap - before) / len(held):.1f} kB a connection); one more "
              f"{'waited' if waited else 'was served (cap not enforced!)'}")
        for s in held + [extra]:
            s.close()
        return 0 if waited else 1


if __name__ == "__main__":
    sys.exit(main())

"""What forwarding the audit trail to an audit record repository costs the registry (issue 18).

Two servers on one registry database (PostgreSQL by default, 10,000 document entries loaded by
bench/datagen.py): one without XDS_ATNA_URL (the baseline), one sending every audit record over
UDP syslog to a receiver in this process. Measured in alternated rounds, so both see the same
machine: FindDocuments (each query writes a read audit, queued for the repository) and ITI-42
registrations (each audited in its transaction). The ratios are ATNA-on over ATNA-off; budget
>= 0.9 for both (the queue is a flag and a partial index entry in the trail's own row, the
sending a background thread). At the end, every record the ATNA server wrote has arrived.

    flock /tmp/xds-heavy.lock .venv/bin/python bench/atna.py [--database sqlite]
"""

from __future__ import annotations

import argparse
import socket
import sys
import tempfile
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

from datagen import load  # noqa: E402
from loadgen import run_load  # noqa: E402
from registry import (  # noqa: E402
    find_requests,
    merge,
    postgres_url,
    register_requests,
    summary,
)

from tests.conftest import start_server, stop_server  # noqa: E402
from xds_server.store import audit_store  # noqa: E402
from xds_server.store.database import Database, make_engine  # noqa: E402
from xds_server.store.schema import migrate  # noqa: E402


class Receiver:
    """A UDP syslog receiver counting datagrams."""

    def __init__(self) -> None:
        self.socket = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.socket.bind(("127.0.0.1", 0))
        self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
        self.port = self.socket.getsockname()[1]
        self.count = 0
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self) -> None:
        while True:
            self.socket.recv(65536)
            self.count += 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--database", choices=("postgresql", "sqlite"), default="postgresql")
    parser.add_argument("--entries", type=int, default=10_000)
    parser.add_argument("--seconds", type=float, default=18.0, help="per measure, all rounds")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--registrations", type=int, default=600, help="per server and round")
    args = parser.parse_args()

    receiver = Receiver()
    with tempfile.TemporaryDirectory(prefix="bench-atna-") as tmp:
        url = postgres_url("bench_atna") if args.database == "postgresql" \
            else f"sqlite:///{tmp}/registry.sqlite3"
        engine = make_engine(url)
        migrate(engine)
        patients = load(engine, args.entries)
        engine.dispose()
        common = {"XDS_DATABASE_URL": url, "XDS_PROFILE": "ihe", "XDS_LOG_LEVEL": "WARNING"}
        off = start_server(Path(tmp) / "off", common)
        on = start_server(Path(tmp) / "on", {**common,
                                              "XDS_ATNA_URL": f"udp://127.0.0.1:{receiver.port}"})
        try:
            servers = {"off": off[1] + "/xds/registry", "on": on[1] + "/xds/registry"}
            finds = {name: find_requests(endpoint, patients) for name, endpoint in
                     servers.items()}
            for name, endpoint in servers.items():
                run_load(endpoint, finds[name], clients=args.clients, seconds=2)   # warm-up
            find_runs: dict[str, list] = {"off": [], "on": []}
            register_runs: dict[str, list] = {"off": [], "on": []}
            for round_ in range(args.rounds):
                order = ("off", "on") if round_ % 2 == 0 else ("on", "off")
                for name in order:
                    find_runs[name].append(run_load(
                        servers[name], finds[name], clients=args.clients,
                        seconds=args.seconds / args.rounds))
                for name in order:
                    bodies = register_requests(servers[name], patients, args.registrations)
                    register_runs[name].append(run_load(
                        servers[name], bodies, clients=args.clients, seconds=120,
                        max_requests=len(bodies)))
            database = Database.from_url(url)
            deadline = time.monotonic() + 60
            while database.read(audit_store.forwarding_backlog) and time.monotonic() < deadline:
                time.sleep(0.5)
            backlog = database.read(audit_store.forwarding_backlog)
            database.dispose()
        finally:
            stop_server(off[0])
            stop_server(on[0])

    find = {name: merge(runs) for name, runs in find_runs.items()}
    register = {name: merge(runs) for name, runs in register_runs.items()}
    print(f"\nATNA forwarding on {args.database}, {args.entries} entries, 2 workers each, "
          f"{args.clients} clients, {args.rounds} alternated rounds")
    for name in ("off", "on"):
        print(f"  ATNA {name:3}  FindDocuments {summary(find[name])}")
        print(f"  ATNA {name:3}  ITI-42        {summary(register[name])}")
    find_ratio = find["on"].rate / find["off"].rate
    register_ratio = register["on"].rate / register["off"].rate
    print(f"FindDocuments on/off: {find_ratio:.2f}  ITI-42 on/off: {register_ratio:.2f} "
          f"(budget >= 0.9: {'within' if min(find_ratio, register_ratio) >= 0.9 else 'OVER'})")
    print(f"datagrams received: {receiver.count}; records still queued: {backlog}")


if __name__ == "__main__":
    main()

"""GET /health: is this instance able to do its work (database reachable, store writable)?"""

from __future__ import annotations

import json
from collections.abc import Callable

from .. import __version__

Check = Callable[[], tuple[bool, str]]


def both(first: Check, then: Check) -> Check:
    """`first`, and `then` if `first` passed (a store must be writable and have room)."""
    def check() -> tuple[bool, str]:
        ok, detail = first()
        if not ok:
            return ok, detail
        ok, more = then()
        return ok, more or detail
    return check


def health_report(database: Check, blob_store: Check, profile: str) -> tuple[int, bytes]:
    """HTTP status (200, or 503 when a check fails, so load balancers drop the node) and JSON."""
    db_ok, db_detail = database()
    store_ok, store_detail = blob_store()
    healthy = db_ok and store_ok
    document = {
        "status": "ok" if healthy else "unavailable",
        "version": __version__,
        "profile": profile,
        "database": {"reachable": db_ok, "detail": db_detail},
        "blob_store": {"writable": store_ok, "detail": store_detail},
    }
    return (200 if healthy else 503), json.dumps(document).encode()

"""Random identifiers from the pooled kernel generator: well formed, never repeated, and never
shared by two forked workers."""

from __future__ import annotations

import os
import threading
import uuid

from xds_server.model.ids import random_hex, random_uuid, urn_uuid


def test_uuids_are_version_4_rfc_4122():
    for _ in range(2000):
        value = uuid.UUID(random_uuid())
        assert value.version == 4 and value.variant == uuid.RFC_4122
    assert urn_uuid().startswith("urn:uuid:") and len(urn_uuid()) == 45


def test_no_repeat_across_pool_refills_and_threads():
    seen: list[str] = []
    lock = threading.Lock()

    def draw() -> None:
        mine = [random_hex() for _ in range(3000)]
        with lock:
            seen.extend(mine)
    threads = [threading.Thread(target=draw) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(seen) == len(set(seen)) == 12000
    assert all(len(value) == 32 and int(value, 16) >= 0 for value in seen)


def test_a_forked_child_draws_other_bytes_than_its_parent():
    random_hex()                       # the parent's pool now holds unread bytes
    reader, writer = os.pipe()
    pid = os.fork()
    if pid == 0:                       # child: report what it would hand out next
        os.write(writer, random_hex().encode())
        os._exit(0)
    os.close(writer)
    child = os.read(reader, 64).decode()
    os.waitpid(pid, 0)
    os.close(reader)
    assert len(child) == 32 and child != random_hex()

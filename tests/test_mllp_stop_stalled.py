"""A stop is not held by a sender that stalled mid-message (outsider F3): a connection that
sent `VT MSH|^~\\&|` and nothing more held SIGTERM for the whole 8 s grace meant for messages
being worked on; it is closed after ARRIVING_GRACE (the sender had no ACK: it sends again),
while a message being worked on is still answered."""

from __future__ import annotations

import asyncio
import logging
import threading
import time

from xds_server.hl7v2.mllp import ARRIVING_GRACE, CLOSE_GRACE, MllpLimits, MllpServer, frame

MESSAGE = b"MSH|^~\\&|A|B|C|D|20250101000000||ADT^A28^ADT_A05|1|P|2.5\r"


def test_a_stalled_message_does_not_hold_the_stop(caplog):
    started, release = threading.Event(), threading.Event()

    def handler(message: bytes, peer, request_id: str) -> bytes:
        started.set()
        release.wait(10)
        return b"MSH|^~\\&|ACK\rMSA|AA|1\r"

    async def scenario() -> tuple[float, bytes, bytes]:
        server = MllpServer(handler, MllpLimits(workers=2))
        await server.start("127.0.0.1", 0)
        stalled_reader, stalled_writer = await asyncio.open_connection("127.0.0.1", server.port)
        stalled_writer.write(b"\x0bMSH|^~\\&|")            # and nothing more
        await stalled_writer.drain()
        busy_reader, busy_writer = await asyncio.open_connection("127.0.0.1", server.port)
        busy_writer.write(frame(MESSAGE))
        await busy_writer.drain()
        await asyncio.get_running_loop().run_in_executor(None, started.wait, 10)
        await asyncio.sleep(0.2)                           # the stalled bytes are read
        clock = time.monotonic()
        closing = asyncio.create_task(server.close())      # the default graces
        stalled_end = await asyncio.wait_for(stalled_reader.read(), CLOSE_GRACE + 5)
        took = time.monotonic() - clock
        release.set()                                      # the work in flight finishes
        answer = await asyncio.wait_for(busy_reader.read(), 10)
        await asyncio.wait_for(closing, 10)
        for writer in (stalled_writer, busy_writer):
            writer.close()
        return took, stalled_end, answer

    with caplog.at_level(logging.INFO):
        took, stalled_end, answer = asyncio.run(scenario())
    print(f"stalled connection closed {took:.2f} s after the stop")
    assert stalled_end == b""
    assert took < (ARRIVING_GRACE + CLOSE_GRACE) / 2, took     # 8 s before
    assert b"MSA|AA|1" in answer                                 # the work in flight answered
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING], \
        [r.getMessage() for r in caplog.records]
    assert any("still arriving" in r.getMessage() for r in caplog.records)

"""The HL7 v2 commands: `xds-server mllp` (the listener on its own), `xds-server hl7 send`
(a small MLLP client), and the listener `serve --mllp-port` starts beside the HTTP server."""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
import signal
import sys
import threading
from pathlib import Path

import click

from .cli_errors import Unusable
from .cli_seconds import SECONDS
from .cli_settings import command_settings
from .config import ConfigError, Settings

_FILE = click.Path(exists=True, dir_okay=False)
log = logging.getLogger("xds_server.hl7v2")


def run_listener(settings: Settings, reuse_port: bool = False) -> None:
    """Serve MLLP until SIGTERM or SIGINT (the database at the current schema already); with
    `reuse_port`, as one of several processes on the port."""
    from .app import Hl7Application
    from .hl7v2.mllp import MllpLimits, MllpServer
    from .logs import configure_logging
    from .serving.tls import server_context

    configure_logging(settings.log_level)
    context = None
    if settings.certfile and not settings.mllp_plain:
        context = server_context(settings.certfile, settings.keyfile, settings.ca_certs,
                                 settings.client_cert)
    application = Hl7Application(settings)
    limits = MllpLimits(settings.mllp_max_message_bytes, settings.mllp_message_timeout,
                        settings.mllp_idle_timeout, settings.mllp_max_connections,
                        settings.mllp_workers)
    server = MllpServer(application.service.handle, limits, context)

    async def serve() -> None:
        await server.start(settings.mllp_host, settings.mllp_port, reuse_port)
        log.info("MLLP listening on %s:%d (%s)", settings.mllp_host, server.port,
                 "TLS" if context else "plain")
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()
        await server.close()

    try:
        asyncio.run(serve())
    finally:
        application.close()


def start_listener_processes(settings: Settings) -> list[multiprocessing.Process]:
    """XDS_MLLP_PROCESSES listeners on one port, children of the caller (gunicorn's master
    keeps the foreground for `serve`): the messages' work is CPU (CDA validation), so one
    process per core, as the HTTP side has its workers."""
    processes = Listeners()
    for number in range(max(1, settings.mllp_processes)):
        process = multiprocessing.get_context("fork").Process(
            target=run_listener, args=(settings, True), name=f"xds-server-mllp-{number}",
            daemon=True)
        process.start()
        # not in multiprocessing's own table of children: gunicorn forks its workers from
        # this process afterwards, and each worker's exit would walk that inherited table and
        # test, terminate and join processes that are not its children (an AssertionError
        # traceback per worker, exit status 2). The caller stops them itself.
        multiprocessing.process._children.discard(process)   # type: ignore[attr-defined]
        processes.append(process)
    return processes


class Listeners(list):
    """The listener processes, with the process that started them: only that one stops them.
    gunicorn forks its workers deep inside `serve`, and a worker leaving (sys.exit) unwinds
    through `serve`'s `finally` in the worker too."""

    def __init__(self) -> None:
        super().__init__()
        self.owner = os.getpid()


def stop_listener_processes(processes: list[multiprocessing.Process]) -> None:
    if getattr(processes, "owner", os.getpid()) != os.getpid():
        return                 # a forked worker unwinding: not its processes
    for process in processes:
        if process.is_alive():
            process.terminate()
    for process in processes:
        process.join(10)
        if process.is_alive():
            process.kill()


def check_port(settings: Settings, option: str) -> None:
    """The MLLP port, said at once when it cannot be listened on (out of range, taken), not in
    a traceback from each listener process; `option` is the command's own option for it
    (`serve --mllp-port`, `mllp --port`: serve's message named --port, its HTTP port)."""
    from .serving.ports import listen_problem

    problem = listen_problem(settings.mllp_host, settings.mllp_port)
    if problem:
        raise Unusable(f"MLLP {problem} (another listener there? give {option} or "
                       "XDS_MLLP_PORT)")


def check_tls(settings: Settings) -> None:
    """What the listener needs before it starts: its TLS context and its sender table (a
    table that cannot be read stops the start; an absent one is said: every message AR)."""
    from .hl7v2.senders import SenderTable, SenderTableError

    try:
        table = SenderTable.load(settings.mllp_senders)
    except SenderTableError as exc:
        raise Unusable(str(exc)) from None
    if not table.senders:
        log.warning("MLLP: no sender table (XDS_MLLP_SENDERS): every message is answered AR")
    from .config_signature import hl7_warning

    if unsigned := hl7_warning(settings):
        log.warning("MLLP: %s", unsigned)
    from .dsig.on_behalf import source_signer

    source_signer(settings)     # ConfigError now, not a traceback from each listener process
    if settings.certfile and not settings.mllp_plain:
        from .serving.tls import server_context

        try:
            server_context(settings.certfile, settings.keyfile, settings.ca_certs,
                           settings.client_cert)
        except ConfigError as exc:
            raise Unusable(str(exc)) from None


@click.command("mllp")
@click.option("--host", callback=lambda c, p, v: _not_empty(c, p, v),
              help="address to listen on (XDS_MLLP_HOST)")
@click.option("--port", type=click.IntRange(1, 65535),
              help="port (XDS_MLLP_PORT; 2575 when unset)")
@click.option("--data-dir", type=click.Path(file_okay=False), help="data directory")
@click.pass_context
def mllp(ctx: click.Context, host: str | None, port: int | None, data_dir: str | None) -> None:
    """Serve the HL7 v2 front alone: the PAM-FR feed and ORU/MDM documents over MLLP."""
    settings = command_settings(ctx, data_dir=data_dir, mllp_host=host, mllp_port=port)
    if not settings.mllp_port:
        settings = command_settings(ctx, data_dir=data_dir, mllp_host=host, mllp_port=2575)
    check_port(settings, "--port")
    check_tls(settings)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    from .store.database import make_engine
    from .store.schema import migrate

    engine = make_engine(settings.database_url)
    try:
        migrate(engine)
    finally:
        engine.dispose()
    if settings.mllp_processes <= 1:
        run_listener(settings)
        return
    processes = start_listener_processes(settings)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    while not stop.is_set() and all(p.is_alive() for p in processes):
        stop.wait(1)
    stop_listener_processes(processes)
    if not stop.is_set():
        raise Unusable("an MLLP listener process stopped (its log says why)")


@click.group("hl7")
def hl7() -> None:
    """HL7 v2 over MLLP."""


@hl7.command("send")
@click.argument("files", nargs=-1, required=True, type=_FILE)
@click.option("--to", "target", required=True, help="HOST:PORT of the MLLP listener")
@click.option("--tls", is_flag=True, help="speak TLS")
@click.option("--cacert", type=_FILE, help="PEM authorities of the server's certificate")
@click.option("--cert", type=_FILE, help="PEM client certificate (mutual TLS)")
@click.option("--key", type=_FILE, help="its private key")
@click.option("--timeout", type=SECONDS, metavar="SECONDS",
              help="seconds for each ACK (default XDS_CLIENT_TIMEOUT, else 60)")
def send(files: tuple[str, ...], target: str, tls: bool, cacert: str | None,
         cert: str | None, key: str | None, timeout: float | None) -> None:
    """Send each FILE (one HL7 v2 message) and print its ACK; exit 1 if one is AE or AR."""
    from .hl7v2.client import MllpClient, MllpClientError, read_message
    from .serving.tls import client_context

    host, port = _target(target)
    if timeout is None:         # as every client command: XDS_CLIENT_TIMEOUT (issue 18, m13)
        from .cli_client import _client_settings

        timeout = _client_settings().client_timeout
    messages = []
    for name in files:          # every file checked before anything goes to the peer
        try:
            messages.append((name, read_message(Path(name))))
        except ValueError as exc:
            raise click.BadParameter(f"{name}: {exc}; nothing was sent",
                                     param_hint="FILES") from None
        except OSError as exc:
            raise click.BadParameter(f"{name}: cannot be read ({exc.strerror}); nothing was "
                                     "sent", param_hint="FILES") from None
    context = None
    if tls or cacert or cert:
        try:
            context = client_context(cacert, cert, key)
        except (OSError, ValueError) as exc:
            raise Unusable(f"TLS settings: {exc}") from None
    refused = 0
    try:
        with MllpClient(host, port, context, timeout) as client:
            for name, message in messages:
                answer = client.send(message)
                text = answer.decode("utf-8", "replace")
                click.echo(f"# {name}")
                click.echo(text.replace("\r", "\n").rstrip("\n"))
                code = _ack_code(text)
                if code != "AA" and code != "CA":
                    refused += 1
    except (MllpClientError, OSError) as exc:    # no listener, TLS, a lost connection
        raise Unusable(str(exc)) from None
    sys.exit(1 if refused else 0)


def _not_empty(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """An empty --host listened on every interface."""
    from .cli_options import not_empty

    return not_empty(ctx, param, value)


def _target(target: str) -> tuple[str, int]:
    """--to's host and port: a host name or address (an IPv6 one in brackets) and a port of
    1 to 65535 (port 0 or 99999 ended in 'connection refused', a line break in the host in a
    message spanning two lines)."""
    if "://" in target:         # http://H:P passed as host "http" and failed at the lookup
        raise click.BadParameter(f"{target!r}: HOST:PORT is expected, without a scheme (MLLP "
                                 "is not HTTP; --tls for TLS)", param_hint="--to")
    host, _, port_text = target.rpartition(":")
    host = host.removeprefix("[").removesuffix("]")
    if not host or any(c.isspace() or not c.isprintable() for c in host) \
            or not port_text.isdigit() or not 1 <= int(port_text) <= 65535:
        raise click.BadParameter(f"{target!r}: HOST:PORT is expected, the port 1 to 65535",
                                 param_hint="--to")
    return host, int(port_text)


def _ack_code(text: str) -> str:
    for segment in text.replace("\n", "\r").split("\r"):
        if segment.startswith("MSA"):
            parts = segment.split(segment[3:4] or "|")
            return parts[1] if len(parts) > 1 else ""
    return ""

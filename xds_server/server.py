"""gunicorn, embedded: `xds-server serve` runs this so there is one command and one config.

gunicorn manages the processes; each worker is the project's own event-loop worker
(serving/worker.py): requests are read whole under deadlines and limits before a thread runs
the application, so slow clients cannot take the threads (issue 13, finding 9).
"""

from __future__ import annotations

import logging
from typing import Any

from gunicorn import glogging
from gunicorn.app.base import BaseApplication

from . import __version__
from .config import Settings, redact_url
from .config_signature import warnings as signature_warnings
from .logs import configure_logging
from .serving.limits import HttpLimits
from .serving.tls import server_context

WORKER_CLASS = "xds_server.serving.worker.XdsWorker"


class _Gunicorn(BaseApplication):
    def __init__(self, settings: Settings, options: dict[str, Any]) -> None:
        self._settings = settings
        self._options = options
        # read by XdsWorker in each worker
        self.http_limits = HttpLimits.from_settings(settings)
        self.threads = settings.threads
        self.ssl_context = (server_context(settings.certfile, settings.keyfile,
                                           settings.ca_certs, settings.client_cert)
                            if settings.certfile else None)
        super().__init__()

    def load_config(self) -> None:
        for key, value in self._options.items():
            if key in self.cfg.settings:  # settings differ across gunicorn releases
                self.cfg.set(key, value)

    def load(self):  # type: ignore[no-untyped-def]
        # Called in each worker after fork: database engines and parsers are per process.
        configure_logging(self._settings.log_level, self._settings.log_format)
        from .app import create_app

        return create_app(self._settings)


def peers(settings: Settings) -> list[tuple[int, str]]:
    """The audit record repository's host not resolving now, said at start-up (WARNING): the
    server starts and queues the records (a repository may come up later), but an operator's
    typo was silent until someone read the backlog. A bad scheme or port is refused at load
    (config.py)."""
    import socket
    from urllib.parse import urlsplit

    if not settings.atna_url:
        return []
    parts = urlsplit(settings.atna_url)
    try:
        socket.getaddrinfo(parts.hostname, parts.port)
    except (OSError, UnicodeError) as exc:
        return [(logging.WARNING, f"audit record repository {settings.atna_url}: its host does "
                 f"not resolve now ({exc}); audit records are queued until it does "
                 "(XDS_ATNA_URL)")]
    return []


def posture(settings: Settings) -> list[tuple[int, str]]:
    """What a test platform relaxes, said at start-up (WARNING: not for real patients)."""
    relaxed = []
    if settings.security == "none":
        relaxed.append("security none: callers are not authenticated, every call acts as the "
                       "system (XDS_SECURITY=vihf asks for a signed VIHF)")
    if settings.accept_test_ins:
        relaxed.append("test INS accepted (XDS_ACCEPT_TEST_INS=true)")
    if settings.profile == "cisis" and not settings.require_submission_signature:
        relaxed.append("submission sets need no signature "
                       "(XDS_REQUIRE_SUBMISSION_SIGNATURE=false)")
    said = [(logging.WARNING, line) for line in signature_warnings(settings)]
    if not relaxed:
        return [*said, (logging.INFO, "security: signed VIHF required"
                 if settings.security == "vihf" else "security: none")]
    return [*said, (logging.WARNING, "test platform: " + "; ".join(relaxed))]


class RootLogger(glogging.Logger):
    """gunicorn's loggers with no handler of their own: their lines reach the root handler,
    in the server's format (logs.py), like every other line."""

    # the workers speak TLS themselves, so gunicorn believes it serves http: its "Listening
    # at: http://…" line said so on an HTTPS server; run_gunicorn sets the true scheme
    scheme = "http"

    def info(self, msg: str, *args: Any, **kwargs: Any) -> None:
        if self.scheme != "http" and msg.startswith("Listening at: ") and args:
            args = (str(args[0]).replace("http://", f"{self.scheme}://"), *args[1:])
        super().info(msg, *args, **kwargs)

    def setup(self, cfg: Any) -> None:
        super().setup(cfg)
        for logger in (self.error_log, self.access_log):
            for handler in list(logger.handlers):
                logger.removeHandler(handler)
            logger.propagate = True


def _worker_exit(_server: Any, _worker: Any) -> None:
    """gunicorn's last call in a worker (the `finally` it leaves through): a worker that
    stopped normally leaves now, without the interpreter's teardown (serving/leaving.py)."""
    from .serving.leaving import leave, stopped_normally

    if stopped_normally():
        leave(0)


def _child_exit(_server: Any, worker: Any) -> None:
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


def run_gunicorn(settings: Settings, host: str, port: int, workers: int) -> None:
    configure_logging(settings.log_level, settings.log_format)
    logging.getLogger("xds_server").info(
        "xds-server %s: profile %s, database %s, documents in %s, repository %s; "
        "registry %s; %s", __version__, settings.profile, redact_url(settings.database_url),
        settings.blob_dir, settings.repository_unique_id,
        settings.registry_url or "in-process",
        f"HTTPS, client certificates {settings.client_cert}" if settings.certfile else "HTTP")
    for level, line in [*posture(settings), *peers(settings)]:
        logging.getLogger("xds_server").log(level, "%s", line)
    RootLogger.scheme = "https" if settings.certfile else "http"
    options = {
        "bind": f"[{host}]:{port}" if ":" in host else f"{host}:{port}",
        "workers": workers,
        "worker_class": WORKER_CLASS,
        "timeout": settings.request_timeout,
        "graceful_timeout": 30,
        "preload_app": False,
        "accesslog": None,
        "errorlog": "-",
        "loglevel": settings.log_level.lower(),
        # gunicorn's lines in the server's format (a JSON log has only JSON lines)
        "logger_class": "xds_server.server.RootLogger",
        "child_exit": _child_exit,
        "worker_exit": _worker_exit,
        "proc_name": "xds-server",
        "limit_request_field_size": 16384,
        # gunicorn 24+ opens a control socket in ~/.gunicorn; two servers on one host would clash.
        "control_socket_disable": True,
    }
    _Gunicorn(settings, options).run()

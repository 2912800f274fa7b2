"""alm registry serve: the reference registry (reconciler.deploy.registry_server)."""

from __future__ import annotations

import os
import signal
from pathlib import Path
from types import FrameType

import click

from reconciler.errors import AlmError, UsageError


@click.group("registry")
def registry_group() -> None:
    """The reference HTTP registry of deployed bundles."""


class _Stop(BaseException):
    """SIGTERM, raised in the main thread. A BaseException, as KeyboardInterrupt is: one
    arriving while the server dispatches a request must not be caught by the `except
    Exception` around that dispatch (socketserver reports it and serves on)."""


def _stop(signum: int, frame: FrameType | None) -> None:
    raise _Stop


@registry_group.command("serve")
@click.option(
    "--dir",
    "folder",
    type=click.Path(file_okay=False, path_type=Path),
    required=True,
    help="where bundles are stored: DIR/<env>/<agent>.json",
)
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=8765,
    show_default=True,
    help="0 picks a free port (printed)",
)
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option(
    "--token-env",
    metavar="VAR",
    help="require Authorization: Bearer <the value of VAR> on every request",
)
def serve(folder: Path, port: int, host: str, token_env: str | None) -> None:
    """Serve the registry protocol (docs/registry-protocol.md) until interrupted."""
    from reconciler.deploy.registry_server import make_server

    token = None
    if token_env is not None:
        token = os.environ.get(token_env)
        if not token:
            raise UsageError(f"--token-env {token_env}: that variable is not set or empty")
    try:
        server = make_server(folder, host, port, token)
    except OSError as exc:
        raise AlmError(f"cannot listen on {host}:{port}: {exc.strerror}") from None
    auth = f"bearer token from {token_env}" if token_env else "no token: anyone who reaches it"
    click.echo(f"alm registry: serving {folder} on {server.url} ({auth})")
    previous = signal.signal(signal.SIGTERM, _stop)
    try:
        server.serve_forever()
    except (_Stop, KeyboardInterrupt):
        click.echo("alm registry: stopped")
    finally:
        signal.signal(signal.SIGTERM, previous)
        server.server_close()

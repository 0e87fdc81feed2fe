"""``coflex serve``: the web pages and the API under uvicorn."""

from __future__ import annotations

import ipaddress
import logging
from typing import Annotated

import typer

from coflex.entrypoints.cli import DatabaseOption, _fail, console
from coflex.errors import CoflexError, InputError

app = typer.Typer()
logger = logging.getLogger(__name__)


def _check_host(host: str) -> None:
    try:
        address = ipaddress.ip_address(host)
    except ValueError as exc:
        if host == "localhost":
            return
        raise InputError(
            f"invalid --host {host!r}: give an IP address such as 127.0.0.1",
            value=host,
            field="host",
        ) from exc
    if not address.is_loopback:
        logger.warning("serving on %s: the API is reachable from other hosts", host)


@app.command()
def serve(
    database: DatabaseOption = None,
    host: Annotated[
        str,
        typer.Option(
            help="Address to listen on; keep the loopback default "
            "behind a TLS-terminating proxy."
        ),
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="TCP port.")] = 8000,
    insecure_cookies: Annotated[
        bool,
        typer.Option(
            help="Send the session cookie without the Secure flag, for browsers "
            "that refuse Secure cookies over plain HTTP. Not for production.",
        ),
    ] = False,
) -> None:
    """Serve the portals and the API (OpenAPI document at /api/v1/openapi.json)."""
    import uvicorn

    from coflex.adapters.store.database import default_database_url
    from coflex.entrypoints.web.app import create_app

    url = database or default_database_url()
    try:
        _check_host(host)
        web = create_app(url, secure_cookies=not insecure_cookies)
    except CoflexError as error:
        _fail(error)
        return
    console.print(f"coflex serves {url} at http://{host}:{port}/login")
    uvicorn.run(web, host=host, port=port, log_level="info", access_log=False)

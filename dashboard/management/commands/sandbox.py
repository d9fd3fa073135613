"""`manage.py sandbox`: serve the local Postmark (dashboard.postmark.sandbox) over HTTP on loopback.

It owns the listening socket, the thread-per-connection server and a clean stop on SIGTERM or Ctrl-C.
Connections are kept alive between requests (HTTP/1.1), as Postmark's own API keeps them: a client that
pools its connections, as ours does, pays for a new connection only once.
It must never listen beyond loopback (the `/_sandbox/*` control paths have no authentication), never
print a token (only its last four characters) and never log request headers (they carry the token).
"""

import contextlib
import ipaddress
import signal
import socket
import socketserver
import sys
from typing import Any
from wsgiref.simple_server import WSGIServer

from django.core.management.base import BaseCommand, CommandError
from django.core.servers.basehttp import WSGIRequestHandler

from dashboard.postmark.sandbox import Sandbox


class ThreadingWSGIServer(socketserver.ThreadingMixIn, WSGIServer):
    """One daemon thread per connection, so a hanging request never blocks the others or the stop."""

    daemon_threads = True
    block_on_close = False  # else server_close() joins every request's thread, daemon or not, before the stop
    # Room for a team's whole fan-out at once: with socketserver's default of 5 waiting connections, the
    # rest are refused and retried by the kernel a second later, which Postmark never does to anyone.
    request_queue_size = 128

    def server_bind(self) -> None:
        # HTTPServer.server_bind looks the host up in DNS (getfqdn); loopback needs no lookup.
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = self.server_address[:2]
        self.setup_environ()


class ThreadingWSGIServerV6(ThreadingWSGIServer):
    address_family = socket.AF_INET6


class RequestLineHandler(WSGIRequestHandler):
    """Keeps the connection alive between requests (Django's HTTP/1.1 handler: every sandbox answer has a
    Content-Length) and logs the request line and the status only: headers carry the server token."""

    # A connection left idle this long is closed, so clients that vanish don't keep a thread each for ever.
    timeout = 60
    # An answer's headers and body go out in separate writes: with Nagle's algorithm on, a kept-alive
    # connection would hold the body back until the client's delayed ACK, 40 ms later.
    disable_nagle_algorithm = True

    def handle(self) -> None:
        # The client went quiet or away between requests: nothing was lost.
        with contextlib.suppress(TimeoutError, ConnectionError):
            super().handle()

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        self.log_message('"%s" %s %s', self.requestline, code, size)

    def log_message(self, format: str, *args: Any) -> None:
        sys.stderr.write(f"sandbox {self.client_address[0]} - {format % args}\n")


class Stop(Exception):
    """Raised by the SIGTERM handler to leave serve_forever()."""


def stop_on_sigterm(signum: int, frame: object) -> None:
    raise Stop


def loopback_host(host: str) -> str:
    if host == "localhost":
        return "127.0.0.1"
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        raise CommandError(
            f"--host must be a loopback address such as 127.0.0.1 or ::1, not {host!r}."
        ) from None
    if not address.is_loopback:
        raise CommandError(f"The sandbox only listens on loopback; {host} is not a loopback address.")
    return host


def token_hint(token: str) -> str:
    """How a token is shown: its last four characters, and none of a token too short to hide."""
    return f'token ending "{token[-4:]}"' if len(token) > 8 else "a short token"


class Command(BaseCommand):
    help = "Serve the local Postmark sandbox over HTTP on loopback, for the demo and for a real client."
    requires_system_checks: list[str] = []

    def add_arguments(self, parser) -> None:
        parser.add_argument("--port", type=int, default=0, help="Port to listen on; 0 picks a free one.")
        parser.add_argument(
            "--token", action="append", required=True, dest="tokens", metavar="TOKEN",
            help="A made-up server token to serve; repeat for more servers.",
        )
        parser.add_argument("--state", default=None, metavar="FILE", help="Keep servers and streams in FILE.")
        parser.add_argument("--host", default="127.0.0.1", help="Loopback address to listen on.")
        parser.add_argument(
            "--custom-unsubscribe", action="store_true",
            help="Allow Custom unsubscribe handling on every served server (grants; never revokes).",
        )

    def handle(self, *args: Any, port: int, tokens: list[str], state: str | None, host: str,
               custom_unsubscribe: bool, **options: Any) -> None:
        host = loopback_host(host)
        if not 0 <= port <= 65535:
            raise CommandError(f"--port must be between 0 and 65535, not {port}.")
        try:
            sandbox = Sandbox(state_file=state)
        except (OSError, ValueError) as error:
            raise CommandError(f"Cannot read the sandbox state: {error}") from None
        served = [(self.serve_token(sandbox, token, custom_unsubscribe), token) for token in tokens]
        server = self.listen(host, port, sandbox)
        self.stdout.write(self.listening_line(server, served, state))
        self.stdout.flush()
        self.serve_until_stopped(server)

    def serve_token(self, sandbox: Sandbox, token: str, custom_unsubscribe: bool) -> int:
        try:
            server_id = sandbox.add_server(token, custom_unsubscribe=custom_unsubscribe)
        except ValueError as error:
            raise CommandError(str(error)) from None
        if custom_unsubscribe:  # a server kept in --state may predate the flag
            sandbox.grant_custom_unsubscribe(token)
        return server_id

    def listen(self, host: str, port: int, sandbox: Sandbox) -> ThreadingWSGIServer:
        server_class = ThreadingWSGIServerV6 if ":" in host else ThreadingWSGIServer
        try:
            server = server_class((host, port), RequestLineHandler)
        except OSError as error:
            raise CommandError(f"Cannot listen on {host}:{port}: {error.strerror or error}.") from None
        server.set_app(sandbox)
        return server

    def listening_line(
        self, server: ThreadingWSGIServer, served: list[tuple[int, str]], state: str | None
    ) -> str:
        host, port = server.server_address[:2]
        url = f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"
        servers = ", ".join(f"ServerID {server_id} ({token_hint(token)})" for server_id, token in served)
        kept = f"; state in {state}" if state else "; state in memory only"
        return f"Postmark sandbox listening on {url} serving {servers}{kept}. Stop with Ctrl-C."

    def serve_until_stopped(self, server: ThreadingWSGIServer) -> None:
        previous = signal.signal(signal.SIGTERM, stop_on_sigterm)
        try:
            server.serve_forever(poll_interval=0.2)
        except (KeyboardInterrupt, Stop):
            self.stdout.write("Postmark sandbox stopped.")
        finally:
            signal.signal(signal.SIGTERM, previous)
            server.server_close()

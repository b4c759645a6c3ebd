"""A real SMTP server for tests/alerts.rs: aiosmtpd (Debian's
python3-aiosmtpd) on loopback, keeping each mail it accepts as a file.

    smtp_server.py MAILDIR CERT KEY MODE USER PASSWORD

MODE is "starttls" (STARTTLS required before anything else, then a login
required) or "implicit" (TLS from the first byte, login required). Prints
"listening PORT" once it accepts connections; stops on SIGTERM or when
its stdin closes.
"""

import os
import socket
import ssl
import sys

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword


class Keep:
    def __init__(self, folder):
        self.folder = folder
        self.count = 0

    async def handle_DATA(self, server, session, envelope):
        self.count += 1
        path = os.path.join(self.folder, f"{self.count:04}.eml")
        with open(path + ".part", "wb") as f:
            f.write(b"X-Envelope-To: " + ", ".join(envelope.rcpt_tos).encode() + b"\r\n")
            f.write(envelope.content)
        os.rename(path + ".part", path)
        return "250 kept"


def main():
    folder, cert, key, mode, user, password = sys.argv[1:7]
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)

    def authenticate(server, session, envelope, mechanism, auth_data):
        ok = isinstance(auth_data, LoginPassword) and (
            auth_data.login.decode(),
            auth_data.password.decode(),
        ) == (user, password)
        return AuthResult(success=ok)

    # The controller checks it is up by connecting to its own port, so the
    # port is picked first (the OS's free port, released just before).
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    common = dict(
        hostname="127.0.0.1",
        port=port,
        authenticator=authenticate,
        auth_required=True,
    )
    if mode == "starttls":
        controller = Controller(
            Keep(folder), tls_context=context, require_starttls=True, auth_require_tls=True, **common
        )
    else:
        # The whole connection is TLS; aiosmtpd only counts STARTTLS as TLS
        # for auth_require_tls, so it would offer no login at all.
        controller = Controller(Keep(folder), ssl_context=context, auth_require_tls=False, **common)
    controller.start()
    print(f"listening {port}", flush=True)
    try:
        sys.stdin.read()
    finally:
        controller.stop()


main()

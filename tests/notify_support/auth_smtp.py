"""aiosmtpd with its Mailbox handler that requires SMTP authentication (user / pa55word).

Usage: python3 auth_smtp.py PORT MAILDIR. Plain text on 127.0.0.1 only: for tests.
"""
import sys
import threading

from aiosmtpd.controller import Controller
from aiosmtpd.handlers import Mailbox
from aiosmtpd.smtp import AuthResult, LoginPassword


def authenticator(server, session, envelope, mechanism, auth_data):
    ok = (
        isinstance(auth_data, LoginPassword)
        and auth_data.login == b"user"
        and auth_data.password == b"pa55word"
    )
    return AuthResult(success=ok, handled=False)


port, maildir = int(sys.argv[1]), sys.argv[2]
controller = Controller(
    Mailbox(maildir),
    hostname="127.0.0.1",
    port=port,
    authenticator=authenticator,
    auth_required=True,
    auth_require_tls=False,
)
controller.start()
threading.Event().wait()

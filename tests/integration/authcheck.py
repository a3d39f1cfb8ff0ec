"""Helpers for the tests of logins (password policy, expiry, lockout, 2FA and
app passwords): an AUTH attempt with smtplib from a chosen source address, and
RFC 6238 one-time codes computed here, independently of liboath."""
import base64
import hashlib
import hmac
import smtplib
import struct
import time

from conftest import tls_client_context


def login(s, user, password, source=None, mech="PLAIN", timeout=30):
    """(code, text) of one AUTH (PLAIN or LOGIN) on the submission port after
    STARTTLS, optionally from SOURCE (127.0.0.2, 127.0.0.3: another client
    IP).  One attempt only: smtplib's login() would try every mechanism the
    server offers, two failures per call, which skews failure counts.
    TIMEOUT: how long the client waits for each reply."""
    src = (source, 0) if source else None
    with smtplib.SMTP("127.0.0.1", s.ports["submission"], source_address=src, timeout=timeout) as c:
        c.ehlo("client.test")
        c.starttls(context=tls_client_context())
        c.ehlo("client.test")
        c.user, c.password = user, password
        try:
            code, text = c.auth(mech, c.auth_plain if mech == "PLAIN" else c.auth_login,
                                initial_response_ok=True)
        except smtplib.SMTPAuthenticationError as e:
            code, text = e.smtp_code, e.smtp_error
        return code, text.decode() if isinstance(text, bytes) else text


def totp(secret_b32, at=None, step=30, digits=6):
    """RFC 6238 TOTP (HMAC-SHA1) of the base32 SECRET at time AT."""
    key = base64.b32decode(secret_b32 + "=" * (-len(secret_b32) % 8))
    counter = int((time.time() if at is None else at) // step)
    mac = hmac.new(key, struct.pack(">Q", counter), hashlib.sha1).digest()
    off = mac[-1] & 0x0F
    code = (struct.unpack(">I", mac[off:off + 4])[0] & 0x7FFFFFFF) % 10 ** digits
    return f"{code:0{digits}d}"


def rfc6238_selftest():
    """The test vector of RFC 6238 appendix B (SHA1, T = 59 s, 8 digits)."""
    secret = base64.b32encode(b"12345678901234567890").decode()
    assert totp(secret, at=59, digits=8) == "94287082"

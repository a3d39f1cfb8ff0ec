"""Helpers of the web admin's tests (test_web_admin.py, test_web_browser.py):
a daemon with a web section and an administrator, and a small HTTP client
that keeps cookies the way a browser does for one site."""
import http.client
import json
import re
import urllib.parse

from authcheck import totp
from conftest import free_port, tls_client_context, wait_port

ADMIN = "ops"
ADMIN_PASSWORD = "Granite-Falcon-29"


def web_admin_server(make_server, tls="none", web_extra="", extra="", **kw):
    """A started, provisioned daemon with web at s.web_port and the admin
    ADMIN, whose TOTP secret is s.admin_secret."""
    port = free_port()
    web = f'web = {{ address = "127.0.0.1:{port}"; tls = "{tls}"; {web_extra} }};'
    s = make_server(extra=web + "\n" + extra, **kw).start().provision()
    wait_port("127.0.0.1", port)
    s.web_port = port
    s.web_tls = tls == "implicit"
    out = json.loads(s.ctl("admin", "add", ADMIN, "--json", input=ADMIN_PASSWORD + "\n").stdout)
    s.admin_secret = out["secret"]
    return s


class Client:
    """One browser's worth of cookies against one daemon's web port."""

    def __init__(self, s, source="127.0.0.1"):
        self.s = s
        self.source = source
        self.cookies = {}

    def request(self, method, path, form=None, headers=None, raw_body=None):
        if self.s.web_tls:
            conn = http.client.HTTPSConnection("127.0.0.1", self.s.web_port, timeout=30,
                                               context=tls_client_context(),
                                               source_address=(self.source, 0))
        else:
            conn = http.client.HTTPConnection("127.0.0.1", self.s.web_port, timeout=30,
                                              source_address=(self.source, 0))
        h = dict(headers or {})
        if self.cookies:
            h["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        body = raw_body
        if form is not None:
            body = urllib.parse.urlencode(form, doseq=True)
            h["Content-Type"] = "application/x-www-form-urlencoded"
        conn.request(method, path, body=body, headers=h)
        r = conn.getresponse()
        text = r.read().decode(errors="replace")
        r.set_cookies = r.headers.get_all("Set-Cookie") or []
        for c in r.set_cookies:
            name, _, rest = c.partition("=")
            value = rest.split(";")[0]
            if "Max-Age=0" in c:
                self.cookies.pop(name, None)
            else:
                self.cookies[name] = value
        conn.close()
        return r, text

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def post(self, path, form=None, **kw):
        return self.request("POST", path, form=form or {}, **kw)

    def login_token(self, path="/"):
        r, page = self.get(path)
        m = re.search(r'name="login_token" value="([0-9a-f]{64})"', page)
        assert r.status == 200 and m, page
        return m.group(1)

    def login(self, name=ADMIN, password=ADMIN_PASSWORD, code=None):
        token = self.login_token()
        return self.post("/login", {"login_token": token, "name": name, "password": password,
                                    "code": code if code is not None
                                    else totp(self.s.admin_secret)})

    def csrf(self, path="/admin/"):
        r, page = self.get(path)
        m = re.search(r'name="csrf" value="([0-9a-f]{64})"', page)
        assert r.status == 200 and m, page
        return m.group(1)

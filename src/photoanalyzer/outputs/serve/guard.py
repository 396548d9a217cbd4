"""Who may talk to the server, checked before any handler runs (plain ASGI middleware).

- Bound to a loopback address (the default), only this machine reaches it; the Host header
  must then name a loopback host, so a web page elsewhere cannot reach it through a DNS name
  it points at 127.0.0.1 (DNS rebinding).
- Bound to any other address (an explicit --host), every request must carry the token
  printed at start: `?token=` (answered with a cookie and a redirect to the same address
  without it, so it leaves the address bar), the X-Photoanalyze-Token header, or that
  cookie (HttpOnly, SameSite=Strict: another site's page cannot send it).
- A request that changes something (POST) from another origin is refused either way.
- Every answer carries headers that keep the pages to themselves: a Content-Security-Policy
  that allows only this server's scripts, styles and images, no framing, no referrer to
  another site (`same-origin`: a token in an address never leaves in one; `no-referrer`
  would also make browsers send `Origin: null` with the pages' own form POSTs, which the
  check above refuses), no type sniffing."""

from __future__ import annotations

import hmac
import ipaddress
from http.cookies import SimpleCookie
from urllib.parse import parse_qsl, urlencode, urlsplit

TOKEN_PARAM = "token"
TOKEN_HEADER = b"x-photoanalyze-token"
TOKEN_COOKIE = "photoanalyze_token"
LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1")
SECURITY_HEADERS = [
    (
        b"content-security-policy",
        b"default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self';"
        b" connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    ),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
    (b"x-frame-options", b"DENY"),
    (b"cross-origin-resource-policy", b"same-origin"),
]


def is_loopback(host: str) -> bool:
    """Whether binding `host` keeps the server to this machine."""
    name = host.strip("[]")
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


class Guard:
    """`token`: None only for a loopback bind (make_app refuses anything else)."""

    def __init__(self, app, token: str | None, error_page):
        self.app, self.token, self.error_page = app, token, error_page

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = dict(_headers(scope))
        refusal = self._refusal(scope, headers)
        if refusal is not None:
            return await self.error_page(scope, 403, refusal)(scope, receive, send)
        if self.token is not None and _query_token(scope) is not None:
            return await self._into_cookie(scope, send)
        return await self.app(scope, receive, _with_headers(send))

    def _refusal(self, scope, headers: dict[bytes, bytes]) -> str | None:
        host = headers.get(b"host", b"").decode("latin-1")
        if self.token is None and not _loopback_host(host):
            return (
                f"this server answers only to a loopback address (localhost, 127.0.0.1), "
                f"not to '{host}'"
            )
        if scope["method"] not in ("GET", "HEAD") and not _same_origin(headers, host):
            return "a request from another site's page is refused"
        if self.token is not None and not self._carries_token(scope, headers):
            return (
                "this server needs the token printed when it started: open the address it "
                "printed (with ?token=...), or send the X-Photoanalyze-Token header"
            )
        return None

    def _carries_token(self, scope, headers: dict[bytes, bytes]) -> bool:
        given = [
            _query_token(scope),
            headers.get(TOKEN_HEADER, b"").decode("latin-1") or None,
            _cookie(headers, TOKEN_COOKIE),
        ]
        return any(value is not None and _same(value, self.token) for value in given)

    async def _into_cookie(self, scope, send) -> None:
        """A token in the address: set the cookie and send the browser to the same address
        without it."""
        pairs = parse_qsl(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True)
        query = [(key, value) for key, value in pairs if key != TOKEN_PARAM]
        location = scope.get("root_path", "") + scope["path"]
        if query:
            location += "?" + urlencode(query)
        cookie = f"{TOKEN_COOKIE}={self.token}; Path=/; HttpOnly; SameSite=Strict"
        await send(
            {
                "type": "http.response.start",
                "status": 303,
                "headers": [
                    (b"location", location.encode("latin-1", "replace")),
                    (b"set-cookie", cookie.encode("latin-1")),
                    (b"content-length", b"0"),
                    *SECURITY_HEADERS,
                ],
            }
        )
        await send({"type": "http.response.body", "body": b""})


def _headers(scope):
    for name, value in scope.get("headers", []):
        yield name.lower(), value


def _with_headers(send):
    async def sending(message):
        if message["type"] == "http.response.start":
            message = {**message, "headers": [*message.get("headers", []), *SECURITY_HEADERS]}
        await send(message)

    return sending


def _same(given: str, token: str) -> bool:
    return hmac.compare_digest(given.encode("utf-8", "replace"), token.encode("utf-8"))


def _query_token(scope) -> str | None:
    for key, value in parse_qsl(scope.get("query_string", b"").decode("latin-1")):
        if key == TOKEN_PARAM:
            return value
    return None


def _cookie(headers: dict[bytes, bytes], name: str) -> str | None:
    cookie = SimpleCookie()
    try:
        cookie.load(headers.get(b"cookie", b"").decode("latin-1"))
    except Exception:  # a malformed Cookie header is no token
        return None
    return cookie[name].value if name in cookie else None


def _host_name(host: str) -> str:
    """'127.0.0.1:8765' -> '127.0.0.1', '[::1]:8765' -> '::1', 'localhost' -> 'localhost'."""
    if host.startswith("["):
        return host[1:].split("]", 1)[0]
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def _loopback_host(host: str) -> bool:
    return _host_name(host).lower() in LOOPBACK_NAMES


def _same_origin(headers: dict[bytes, bytes], host: str) -> bool:
    """A POST whose Origin (or, without one, Referer) names this server, or that has
    neither (a program, not a browser page)."""
    origin = headers.get(b"origin") or headers.get(b"referer")
    if origin is None:
        return True
    return urlsplit(origin.decode("latin-1")).netloc == host

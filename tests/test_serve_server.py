"""`photoanalyze serve` as a user runs it: the command in its own process on a free port of
this machine, then real HTTP from this test: a 1 GB upload (declared, and streamed without a
length), 1,000 requests at once from a bounded local loop (every one of them sent to
127.0.0.1 only), the token off loopback. Memory is read from the server's /proc status."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from conftest import Cli
from serve_library import SECRET, Library, build
from support.requirements import require_installed
from test_search import standin_config

require_installed("starlette", "uvicorn")

GB = 2**30


@pytest.fixture(scope="module")
def lib(tmp_path_factory) -> Library:
    return build(tmp_path_factory.mktemp("served"))


class Server:
    """`photoanalyze serve --port 0` in a child process; its address from its first line."""

    def __init__(self, lib: Library, config: Path, *args: str):
        cli = Cli(lib.root / "home")
        command = [sys.executable, "-m", "photoanalyzer", "serve", "--db", str(lib.db),
                   "--config", str(config), "--port", "0", *args]  # fmt: skip
        self.process = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=cli.env
        )
        self.url = self.process.stdout.readline().strip()
        if not self.url.startswith("http://"):
            self.stop()
            raise AssertionError(f"serve did not start: {self.url} {self.process.stderr.read()}")
        parts = urlsplit(self.url)
        self.port = parts.port

    def get(self, path: str, timeout: float = 30) -> tuple[int, bytes]:
        request = urllib.request.Request(f"http://127.0.0.1:{self.port}{path}")
        try:
            with urllib.request.urlopen(request, timeout=timeout) as answer:
                return answer.status, answer.read()
        except urllib.error.HTTPError as refused:
            return refused.code, refused.read()

    def memory_kb(self, field: str = "VmRSS") -> int:
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
        raise AssertionError(f"no {field}")

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()


@pytest.fixture(scope="module")
def server(lib, tmp_path_factory):
    config = standin_config(tmp_path_factory.mktemp("config"))
    running = Server(lib, config, "--max-upload-mb", "4")
    yield running
    running.stop()


def test_the_command_prints_the_address_and_serves_on_loopback(server, lib):
    assert server.url == f"http://127.0.0.1:{server.port}/"
    status, page = server.get("/?place=NO")
    assert status == 200 and b"snow.jpg" in page


def test_a_1_gb_upload_is_refused_without_being_read(server):
    before = server.memory_kb()
    started = time.perf_counter()
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as conn:
        conn.sendall(
            f"POST /upload HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\n"
            f"Content-Type: image/jpeg\r\nContent-Length: {GB}\r\nAccept: application/json\r\n"
            "\r\n".encode()
        )
        sent = _send_until_refused(conn, GB)
        answer = _read_answer(conn)
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    assert b"larger than the 4 MB" in answer
    assert time.perf_counter() - started < 60
    assert sent < GB  # the connection was closed: the rest of the body was never read
    assert server.memory_kb() - before < 100_000  # KB: nothing like the body was kept


def test_a_1_gb_upload_without_a_length_is_cut_off_at_the_limit(server):
    before = server.memory_kb()
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as conn:
        conn.sendall(
            f"POST /upload HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\n"
            "Transfer-Encoding: chunked\r\nAccept: application/json\r\n\r\n".encode()
        )
        sent = _send_until_refused(conn, GB, chunked=True)
        answer = _read_answer(conn)
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    assert sent < GB
    assert server.memory_kb() - before < 100_000
    assert server.get("/")[0] == 200


def test_a_thousand_requests_at_once_serve_nothing_outside_the_catalog(server, lib):
    """Searches, pages, thumbnails, the report and traversal attempts, all at once: each is
    answered (503 when more than the server's limit run at once) or refused, none with an
    error of the server's, none with the secret; memory stays bounded and the server
    answers afterwards."""
    ids = list(lib.ids.values())
    paths = [
        "/?place=NO", "/?after=2021&before=2023", "/report/index.html", "/?dark=1",
        "/report/duplicates.html", "/thumb/..%2f..%2fsecret.txt", "/static/..%2f..%2fsecret.txt",
        "/original/999999", "/report/..%2f..%2fc.db", "/thumb/999999", "/people",
        "/report/people.html", "/face/999999", "/face/..%2f..%2fsecret.txt", "/person/999999",
        "/?text=wifi&screenshots=0", "/?faces=1",
        *(f"/thumb/{i}" for i in ids), *(f"/photo/{i}" for i in ids),
        *(f"/?like={i}" for i in ids), *(f"/original/{i}" for i in ids),
    ]  # fmt: skip
    requests = [paths[k % len(paths)] for k in range(1000)]
    baseline = server.memory_kb()
    answers = asyncio.run(_all_at_once(server.port, requests))
    statuses = [status for status, _ in answers]
    assert server.process.poll() is None  # still running
    failed = {path for path, (status, _) in zip(requests, answers, strict=True) if status == 500}
    assert set(statuses) <= {200, 304, 400, 404, 503}, (sorted(set(statuses)), failed)
    assert statuses.count(200) >= 200  # most are answered, not turned away
    assert not any(SECRET in body for _, body in answers)
    assert server.memory_kb("VmHWM") - baseline < 400_000  # KB
    assert server.get("/?place=NO")[0] == 200


def test_off_loopback_the_token_is_printed_and_required(lib, tmp_path):
    running = Server(lib, standin_config(tmp_path), "--host", "0.0.0.0")
    try:
        parts = urlsplit(running.url)
        token = parts.query.removeprefix("token=")
        assert parts.query.startswith("token=") and len(token) >= 32
        status, page = running.get("/?place=NO")
        assert status == 403 and b"token" in page
        browser = urllib.request.build_opener(urllib.request.HTTPCookieProcessor())
        entered = browser.open(f"http://127.0.0.1:{running.port}/?place=NO&token={token}")
        assert entered.status == 200 and entered.url.endswith("/?place=NO")  # the cookie
        assert running.get(f"/thumb/{lib.ids['snow.jpg']}")[0] == 403
    finally:
        running.stop()


def test_a_port_in_use_is_a_clear_error(lib, tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = Cli(lib.root / "home")(
            "serve", "--db", str(lib.db), "--port", str(port), check=False
        )
    assert result.returncode == 1 and f"cannot listen on 127.0.0.1:{port}" in result.stderr


def test_without_a_catalog_serve_says_so(tmp_path):
    (tmp_path / "home").mkdir()
    result = Cli(tmp_path / "home")("serve", "--db", str(tmp_path / "none.db"), check=False)
    assert result.returncode == 1 and "no catalog at" in result.stderr


# -- helpers ---------------------------------------------------------------------------------


def _send_until_refused(conn: socket.socket, total: int, chunked: bool = False) -> int:
    """Send up to `total` bytes of body in 1 MiB pieces until the server answers or stops
    reading; how many were sent."""
    piece, sent = b"\0" * 2**20, 0
    frame = f"{len(piece):x}\r\n".encode() + piece + b"\r\n" if chunked else piece
    conn.settimeout(2)
    while sent < total:
        try:
            conn.sendall(frame)
        except (TimeoutError, BrokenPipeError, ConnectionResetError):
            break
        sent += len(piece)
    conn.settimeout(30)
    return sent


def _read_answer(conn: socket.socket) -> bytes:
    data = b""
    try:
        while len(data) < 65536:
            block = conn.recv(65536)
            if not block:
                break
            data += block
            if b"\r\n\r\n" in data and data.rstrip().endswith(b"}"):
                break
    except (TimeoutError, ConnectionResetError):
        pass
    return data


async def _one(port: int, path: str) -> tuple[int, bytes]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(
            f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n".encode()
        )
        await writer.drain()
        data = await asyncio.wait_for(reader.read(), timeout=120)
    finally:
        writer.close()
    status = int(data.split(b" ", 2)[1]) if data.startswith(b"HTTP/1.1 ") else 0
    return status, data


async def _all_at_once(port: int, paths: list[str]) -> list[tuple[int, bytes]]:
    """Every request on its own connection, all opened together (bounded: len(paths))."""
    return await asyncio.gather(*(_one(port, path) for path in paths))


def test_no_server_process_is_left_behind(server):
    assert os.path.exists(f"/proc/{server.process.pid}")

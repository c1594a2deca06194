"""Tests for mx.test_utils.download against a local HTTP server."""
import functools
import http.server
import os
import threading
import urllib.error

import pytest

import mxc as mx


class _Handler(http.server.SimpleHTTPRequestHandler):
    requests = []

    def log_message(self, *args):  # keep test output clean
        pass

    def do_GET(self):
        _Handler.requests.append(self.path)
        if self.path == "/broken":  # promises more bytes than it sends, then hangs up
            self.send_response(200)
            self.send_header("Content-Length", "100000")
            self.end_headers()
            self.wfile.write(b"x" * 5000)
            self.wfile.flush()
            self.close_connection = True
            return
        super().do_GET()


@pytest.fixture
def server(tmp_path):
    root = tmp_path / "served"
    root.mkdir()
    (root / "hello.txt").write_bytes(b"hello world\n" * 500)
    handler = functools.partial(_Handler, directory=str(root))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    _Handler.requests = []
    yield "http://127.0.0.1:%d" % httpd.server_address[1], root
    httpd.shutdown()
    httpd.server_close()


def test_download_into_dirname(server, tmp_path):
    base, root = server
    target = tmp_path / "out" / "nested"
    got = mx.test_utils.download(base + "/hello.txt", dirname=str(target))
    assert got == os.path.join(str(target), "hello.txt")
    with open(got, "rb") as handle:
        assert handle.read() == (root / "hello.txt").read_bytes()
    assert os.listdir(target) == ["hello.txt"]


def test_download_explicit_fname_and_skip_existing(server, tmp_path):
    base, root = server
    fname = str(tmp_path / "copy.bin")
    assert mx.test_utils.download(base + "/hello.txt", fname=fname) == fname
    assert len(_Handler.requests) == 1
    with open(fname, "wb") as handle:
        handle.write(b"local")
    mx.test_utils.download(base + "/hello.txt", fname=fname)
    assert len(_Handler.requests) == 1  # existing file: no network access
    with open(fname, "rb") as handle:
        assert handle.read() == b"local"
    mx.test_utils.download(base + "/hello.txt", fname=fname, overwrite=True)
    assert len(_Handler.requests) == 2
    with open(fname, "rb") as handle:
        assert handle.read() == (root / "hello.txt").read_bytes()


def test_download_404_retries_then_raises_and_leaves_no_file(server, tmp_path, capsys):
    base, _ = server
    fname = str(tmp_path / "missing.txt")
    with pytest.raises(urllib.error.HTTPError):
        mx.test_utils.download(base + "/missing.txt", fname=fname, retries=3)
    assert len(_Handler.requests) == 3
    assert os.listdir(tmp_path) == ["served"]
    assert "retrying, 1 attempt left" in capsys.readouterr().out


@pytest.mark.parametrize("retries,attempts", [(0, 1), (1, 1), (5, 5)])
def test_number_of_attempts(server, tmp_path, retries, attempts):
    base, _ = server
    with pytest.raises(urllib.error.HTTPError):
        mx.test_utils.download(base + "/nope", fname=str(tmp_path / "x"), retries=retries)
    assert len(_Handler.requests) == attempts


def test_negative_retries_rejected():
    with pytest.raises(AssertionError):
        mx.test_utils.download("http://127.0.0.1:1/x", retries=-1)


def test_interrupted_download_leaves_no_partial_file(server, tmp_path):
    base, _ = server
    fname = tmp_path / "partial.bin"
    with pytest.raises(Exception):
        mx.test_utils.download(base + "/broken", fname=str(fname), retries=2)
    assert len(_Handler.requests) == 2
    assert os.listdir(tmp_path) == ["served"]

"""``allfocus serve``: options, the warning off loopback, clear failures."""

from __future__ import annotations

import socket

import pytest

pytest.importorskip("uvicorn", reason="the web extra (uvicorn) is not installed")

import allfocus.cli.serve  # noqa: F401  (registers the command until cli/app.py imports it)
from allfocus.cli.app import main
from allfocus.cli.exit_codes import ExitCode
from allfocus.web import WebSettings, is_loopback


@pytest.fixture
def served(monkeypatch):
    """Record what would be served instead of serving it."""
    import uvicorn

    calls = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: calls.append((app, kw)))
    return calls


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_serve_on_loopback(served, capsys, tmp_path):
    port = _free_port()
    code = main(["serve", "--port", str(port), "--keep-minutes", "5", "--work-dir", str(tmp_path)])
    assert code == 0
    (app, options), *_ = served
    assert app.title == "allfocus"
    assert options["host"] == "127.0.0.1"
    assert options["port"] == port
    err = capsys.readouterr().err
    assert f"http://127.0.0.1:{port}/" in err
    assert "warning" not in err


def test_serve_elsewhere_warns(served, capsys):
    assert main(["serve", "--host", "0.0.0.0", "--port", str(_free_port())]) == 0
    assert served[0][1]["host"] == "0.0.0.0"
    err = " ".join(capsys.readouterr().err.split())
    assert "warning" in err
    assert "anyone who can reach this address" in err


def test_port_in_use_is_a_clear_error(served, capsys):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        code = main(["serve", "--port", str(port)])
    assert code == ExitCode.BAD_INPUT
    assert "choose another with --port" in capsys.readouterr().err
    assert served == []


@pytest.mark.parametrize(
    "args",
    [
        ["--port", "0"],
        ["--keep-minutes", "0"],
        ["--max-frames", "0"],
        ["--work-dir", "/no/such/folder"],
    ],
)
def test_bad_options(served, capsys, args):
    assert main(["serve", *args]) == ExitCode.BAD_INPUT
    assert "error" in capsys.readouterr().err
    assert served == []


def test_settings_validation():
    with pytest.raises(ValueError, match="max_file_bytes must be a positive integer"):
        WebSettings(max_file_bytes=0)
    with pytest.raises(ValueError, match="but not raise it"):
        WebSettings(max_pixels=10**12)
    with pytest.raises(ValueError, match="keep_minutes must be positive"):
        WebSettings(keep_minutes=-1)
    assert WebSettings().keep_seconds == 3600


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("127.0.0.1", True),
        ("127.0.0.2", True),
        ("localhost", True),
        ("::1", True),
        ("[::1]", True),
        ("0.0.0.0", False),
        ("::", False),
        ("192.168.1.5", False),
        ("example.org", False),
    ],
)
def test_is_loopback(host, expected):
    assert is_loopback(host) is expected


def test_default_pixel_limit_is_the_io_limit():
    from allfocus.io import MAX_PIXELS
    from allfocus.web.settings import DEFAULT_MAX_PIXELS

    assert DEFAULT_MAX_PIXELS == MAX_PIXELS

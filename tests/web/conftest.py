"""Fixtures of the web app tests: a synthetic stack on disk and an API client."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from allfocus.synth.files import write_synthetic_stack


def pytest_configure(config: pytest.Config) -> None:
    # Until the marker is registered in pyproject.toml (harmless once it is).
    config.addinivalue_line(
        "markers", "browser: drives a real browser (Debian chromium); skipped when absent"
    )


@pytest.fixture(scope="session")
def web_stack(tmp_path_factory) -> list[Path]:
    """Three 96x128 colour frames, ``frame_00.png`` ... ``frame_02.png``."""
    folder = tmp_path_factory.mktemp("web") / "stack"
    written = write_synthetic_stack(folder, num_frames=3, shape=(96, 128), seed=1)
    return [p for p in written if p.name.startswith("frame_")]


@pytest.fixture
def make_client(tmp_path) -> Iterator[Callable]:
    """``make_client(**settings)``: a started TestClient (lifespan run) for the app."""
    pytest.importorskip("fastapi", reason="the web extra (fastapi) is not installed")
    try:
        import httpx2  # noqa: F401  (TestClient of Starlette >= 1.0)
    except ImportError:
        pytest.importorskip("httpx", reason="httpx2 or httpx (needed by TestClient) is missing")
    from fastapi.testclient import TestClient

    from allfocus.web import WebSettings, create_app

    clients = []

    def make(**options):
        options.setdefault("work_dir", tmp_path)
        client = TestClient(create_app(WebSettings(**options)), base_url="http://127.0.0.1")
        client.__enter__()
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.__exit__(None, None, None)


@pytest.fixture
def client(make_client):
    """A client of the app with the default limits."""
    return make_client()


def wait_for(client, job_id: str, *, states=("done", "failed"), timeout: float = 120.0) -> dict:
    """Poll a job until its state is one of ``states``; return its JSON."""
    deadline = time.monotonic() + timeout
    while True:
        body = client.get(f"/api/jobs/{job_id}").json()
        if body["state"] in states:
            return body
        if time.monotonic() > deadline:
            raise AssertionError(f"job {job_id} still {body['state']} after {timeout} s: {body}")
        time.sleep(0.05)


@pytest.fixture
def wait_job() -> Callable[..., dict]:
    """The :func:`wait_for` helper."""
    return wait_for

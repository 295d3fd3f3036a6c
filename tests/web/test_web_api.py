"""The JSON API of the web app: jobs end to end, and every way a request is rejected."""

from __future__ import annotations

import threading
import uuid
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("fastapi", reason="the web extra (fastapi) is not installed")

from allfocus.io import read_image
from allfocus.pipeline import FuseConfig, fuse_files
from allfocus.web import tasks
from allfocus.web.tasks import sharpen_methods


def _files(paths, names=None):
    names = names or [p.name for p in paths]
    return [("files", (n, p.read_bytes(), "image/png")) for n, p in zip(names, paths, strict=True)]


def _post(client, files, **fields):
    return client.post("/api/jobs", files=files, data=fields)


def _job_folders(client) -> list[Path]:
    return [p for p in client.app.state.jobs.root.iterdir() if p.is_dir()]


def _decode(content: bytes, suffix: str, tmp_path: Path) -> np.ndarray:
    path = tmp_path / f"download{suffix}"
    path.write_bytes(content)
    return read_image(path).array


# ------------------------------------------------------------------------ info


def test_methods_lists_the_registries(client):
    from allfocus.fusion import DEFAULT_METHOD, list_methods
    from allfocus.pipeline.config import ALIGN_CHOICES

    body = client.get("/api/methods").json()
    assert [m["name"] for m in body["fuse"]["methods"]] == list_methods()
    assert body["fuse"]["default"] == DEFAULT_METHOD
    assert all(m["description"] for m in body["fuse"]["methods"])
    assert body["align"] == {"choices": list(ALIGN_CHOICES), "default": "auto"}
    assert (body["sharpen"] is None) == (sharpen_methods() is None)


def test_methods_offer_restoration(client):
    from allfocus.pipeline.config import RESTORE_CHOICES

    restore = client.get("/api/methods").json()["restore"]
    assert [c["name"] for c in restore["choices"]] == list(RESTORE_CHOICES)
    assert restore["default"] == "auto"
    assert all(c["description"] for c in restore["choices"])
    available = {c["name"]: c["available"] for c in restore["choices"]}
    assert available["defocus"] and available["auto"]


def test_limits_follow_the_settings(make_client):
    client = make_client(max_file_bytes=1234, max_frames=7, max_pixels=99, keep_minutes=5)
    body = client.get("/api/limits").json()
    assert body["max_file_bytes"] == 1234
    assert body["max_frames"] == 7
    assert body["max_pixels"] == 99
    assert body["keep_minutes"] == 5
    assert ".tif" in body["extensions"]


def test_page_and_static_files_are_local(client):
    page = client.get("/")
    assert page.status_code == 200
    assert "text/html" in page.headers["content-type"]
    html = page.text
    assert "http://" not in html
    assert "https://" not in html
    for asset in ("/static/app.js", "/static/style.css", "/static/favicon.svg"):
        assert asset in html
        assert client.get(asset).status_code == 200
    csp = page.headers["content-security-policy"]
    assert "default-src 'self'" in csp
    assert page.headers["x-content-type-options"] == "nosniff"


@pytest.mark.parametrize(
    "path",
    [
        "/static/../app.py",
        "/static/%2e%2e/app.py",
        "/static/..%2fapp.py",
        "/static/%2e%2e/%2e%2e/pipeline/run.py",
    ],
)
def test_static_files_cannot_leave_their_folder(client, path):
    assert client.get(path).status_code == 404


# ---------------------------------------------------------------- fusion jobs


def test_fuse_job_matches_fuse_files(client, web_stack, tmp_path, wait_job):
    response = _post(client, _files(web_stack), kind="fuse", method="pyramid", align="none")
    assert response.status_code == 202, response.text
    job_id = response.json()["id"]
    assert uuid.UUID(job_id).version == 4
    assert response.headers["location"] == f"/api/jobs/{job_id}"

    job = wait_job(client, job_id)
    assert job["state"] == "done", job
    assert job["progress"] == 1.0
    assert job["error"] is None
    assert job["method"] == "pyramid"
    assert job["info"]["frames"] == [p.name for p in web_stack]
    assert job["info"]["how"] == "in memory"
    assert (job["info"]["width"], job["info"]["height"]) == (128, 96)
    assert 0 < job["expires_in"] <= 3600

    reference = tmp_path / "reference.png"
    fuse_files(web_stack, reference, config=FuseConfig(method="pyramid", align="none"))
    expected = read_image(reference).array

    png = client.get(f"/api/jobs/{job_id}/result", params={"format": "png"})
    assert png.headers["content-type"] == "image/png"
    assert "frame_00_allfocus.png" in png.headers["content-disposition"]
    np.testing.assert_array_equal(_decode(png.content, ".png", tmp_path), expected)

    tiff = _decode(client.get(f"/api/jobs/{job_id}/result?format=tiff").content, ".tif", tmp_path)
    assert tiff.dtype == np.uint16
    np.testing.assert_allclose(tiff / 65535, expected / 255, atol=1 / 255)

    jpeg = _decode(client.get(f"/api/jobs/{job_id}/result?format=jpeg").content, ".jpg", tmp_path)
    assert jpeg.dtype == np.uint8
    assert jpeg.shape == expected.shape
    assert np.abs(jpeg.astype(int) - expected).mean() < 3

    depth = _decode(client.get(f"/api/jobs/{job_id}/depth?format=tiff").content, ".tif", tmp_path)
    assert depth.dtype == np.float32
    assert depth.shape == (96, 128)
    assert 0 <= depth.min() and depth.max() <= 2
    depth_png = client.get(f"/api/jobs/{job_id}/depth")
    assert _decode(depth_png.content, ".png", tmp_path).dtype == np.uint16

    for which in ("before", "after", "depth"):
        preview = client.get(f"/api/jobs/{job_id}/preview/{which}")
        assert preview.status_code == 200
        assert preview.headers["content-type"] == "image/jpeg"


def test_fuse_job_with_restore_matches_fuse_files(client, web_stack, tmp_path, wait_job):
    fields = {"kind": "fuse", "method": "pyramid", "align": "none"}
    restored_id = _post(client, _files(web_stack), restore="defocus", **fields).json()["id"]
    plain_id = _post(client, _files(web_stack), restore="off", **fields).json()["id"]

    restored = wait_job(client, restored_id)
    assert restored["state"] == "done", restored
    assert restored["restore"] == "defocus"
    assert restored["info"]["restore"] == "defocus"
    plain = wait_job(client, plain_id)
    assert plain["state"] == "done", plain
    assert plain["restore"] is None and plain["info"]["restore"] is None

    reference = tmp_path / "reference.png"
    config = FuseConfig(method="pyramid", align="none", restore="defocus")
    fuse_files(web_stack, reference, config=config)
    got = client.get(f"/api/jobs/{restored_id}/result").content
    np.testing.assert_array_equal(_decode(got, ".png", tmp_path), read_image(reference).array)
    without = _decode(client.get(f"/api/jobs/{plain_id}/result").content, ".png", tmp_path)
    assert not np.array_equal(without, read_image(reference).array)


def test_restore_stage_is_reported_in_order(web_stack, tmp_path):
    seen = []
    info = tasks.run_fuse(
        tmp_path,
        web_stack,
        frame_counts=[1] * len(web_stack),
        names={p.name: p.name for p in web_stack},
        method="pyramid",
        align="none",
        restore="defocus",
        report=lambda stage, fraction: seen.append((stage, fraction)),
    )
    assert info["restore"] == "defocus"
    stages = [stage for stage, _ in seen]
    assert stages.index("restore") > stages.index("fuse")
    assert stages.index("write") > stages.index("restore")
    fractions = [fraction for _, fraction in seen]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0


def test_restore_is_off_by_default(client, web_stack, wait_job):
    job_id = _post(client, _files(web_stack), method="pyramid", align="none").json()["id"]
    job = client.get(f"/api/jobs/{job_id}").json()
    assert job["restore"] is None
    assert wait_job(client, job_id)["info"]["restore"] is None


def test_frames_are_ordered_naturally_by_their_names(client, web_stack, wait_job):
    names = ["shot_10.png", "shot_9.png", "shot_1.png"]
    response = _post(client, _files(web_stack, names), method="pyramid", align="none")
    job = wait_job(client, response.json()["id"])
    assert job["state"] == "done", job
    assert job["info"]["frames"] == ["shot_1.png", "shot_9.png", "shot_10.png"]


def test_multipage_tiff_is_one_upload(client, web_stack, tmp_path, wait_job):
    import tifffile

    pages = [read_image(p).array for p in web_stack]
    stack = tmp_path / "stack.tif"
    tifffile.imwrite(stack, np.stack(pages), photometric="rgb")
    files = [("files", ("stack.tif", stack.read_bytes(), "image/tiff"))]
    job = wait_job(client, _post(client, files, method="pyramid", align="none").json()["id"])
    assert job["state"] == "done", job
    assert job["frames"] == 3
    assert job["info"]["frames"] == ["stack.tif[0]", "stack.tif[1]", "stack.tif[2]"]


# ------------------------------------------------------------------ rejections


def test_too_large_file_is_rejected(make_client, web_stack):
    client = make_client(max_file_bytes=1000)
    response = _post(client, _files(web_stack))
    assert response.status_code == 413
    assert "frame_00.png" in response.json()["detail"]
    assert "limit" in response.json()["detail"]
    assert _job_folders(client) == []


def test_announced_body_beyond_every_limit_is_rejected_before_reading(make_client):
    client = make_client(max_file_bytes=1000, max_frames=2)
    response = client.post(
        "/api/jobs",
        content=b"x" * (2 * 1000 + 1024 * 1024 + 1),
        headers={"content-type": "multipart/form-data; boundary=abc"},
    )
    assert response.status_code == 413
    assert _job_folders(client) == []


def test_too_many_frames_are_rejected(make_client, web_stack):
    client = make_client(max_frames=2)
    response = _post(client, _files(web_stack))
    assert response.status_code == 413
    assert "at most 2 frames" in response.json()["detail"]
    assert _job_folders(client) == []


def test_too_many_pages_are_rejected(make_client, tmp_path):
    import tifffile

    client = make_client(max_frames=2)
    path = tmp_path / "pages.tif"
    tifffile.imwrite(path, np.zeros((3, 8, 8), dtype=np.uint8), photometric="minisblack")
    response = _post(client, [("files", ("pages.tif", path.read_bytes(), "image/tiff"))])
    assert response.status_code == 413
    assert "too many frames: 3" in response.json()["detail"]


def test_too_many_pixels_are_rejected(make_client, web_stack):
    client = make_client(max_pixels=96 * 128 - 1)
    response = _post(client, _files(web_stack))
    assert response.status_code == 413
    assert "128x96" in response.json()["detail"]
    assert _job_folders(client) == []


def test_bmp_frames_fuse_as_their_png_originals(client, web_stack, tmp_path, wait_job):
    from PIL import Image

    bmps = []
    for path in web_stack:
        bmp = tmp_path / (path.stem + ".bmp")
        Image.open(path).save(bmp)
        bmps.append(bmp)
    fields = {"kind": "fuse", "method": "depthmap", "align": "none"}
    from_bmp = _post(client, _files(bmps), **fields)
    from_png = _post(client, _files(web_stack), **fields)
    assert from_bmp.status_code == from_png.status_code == 202, from_bmp.text
    wait_job(client, from_bmp.json()["id"])
    wait_job(client, from_png.json()["id"])
    a = client.get(f"/api/jobs/{from_bmp.json()['id']}/result?format=png").content
    b = client.get(f"/api/jobs/{from_png.json()['id']}/result?format=png").content
    assert _decode(a, ".png", tmp_path).tolist() == _decode(b, ".png", tmp_path).tolist()


def test_non_image_file_is_rejected(client, web_stack):
    files = [*_files(web_stack[:2]), ("files", ("notes.txt", b"just some text", "text/plain"))]
    response = _post(client, files)
    assert response.status_code == 422
    detail = response.json()["detail"]
    assert "'notes.txt' is not a JPEG, PNG, TIFF or BMP image" in detail
    assert _job_folders(client) == []


def test_empty_file_is_rejected(client, web_stack):
    files = [*_files(web_stack[:2]), ("files", ("empty.png", b"", "image/png"))]
    response = _post(client, files)
    assert response.status_code == 422
    assert "'empty.png' is empty" in response.json()["detail"]


def test_damaged_header_is_rejected(client, web_stack):
    broken = web_stack[0].read_bytes()[:20]  # PNG signature, no IHDR
    files = [*_files(web_stack[:2]), ("files", ("broken.png", broken, "image/png"))]
    response = _post(client, files)
    assert response.status_code == 422
    assert "broken.png" in response.json()["detail"]


def test_one_frame_is_not_a_stack(client, web_stack):
    response = _post(client, _files(web_stack[:1]), kind="fuse")
    assert response.status_code == 422
    assert "at least 2 frames" in response.json()["detail"]
    assert _job_folders(client) == []


def test_no_files(client):
    # what a browser sends for a form whose file input is empty
    body = (
        b"--b0\r\n"
        b'Content-Disposition: form-data; name="kind"\r\n\r\nfuse\r\n'
        b"--b0\r\n"
        b'Content-Disposition: form-data; name="files"; filename=""\r\n'
        b"Content-Type: application/octet-stream\r\n\r\n\r\n"
        b"--b0--\r\n"
    )
    headers = {"content-type": "multipart/form-data; boundary=b0"}
    response = client.post("/api/jobs", content=body, headers=headers)
    assert response.status_code == 422
    assert "no files" in response.json()["detail"]


def test_unknown_method_lists_the_valid_ones(client, web_stack):
    response = _post(client, _files(web_stack), method="magic")
    assert response.status_code == 422
    detail = response.json()["detail"]
    assert "'magic'" in detail
    assert "depthmap" in detail
    assert _job_folders(client) == []


def test_unknown_alignment(client, web_stack):
    response = _post(client, _files(web_stack), align="sideways")
    assert response.status_code == 422
    assert "align must be one of" in response.json()["detail"]


def test_unknown_restore_method(client, web_stack):
    response = _post(client, _files(web_stack), restore="sharpest")
    assert response.status_code == 422
    detail = response.json()["detail"]
    assert "restore must be off or one of auto, learned, defocus" in detail
    assert "'sharpest'" in detail
    assert _job_folders(client) == []


def test_restore_is_for_fusion_only(client, web_stack):
    response = _post(client, _files(web_stack[:1]), kind="sharpen", restore="defocus")
    assert response.status_code == 422
    assert "fusion jobs only" in response.json()["detail"]
    assert _job_folders(client) == []


def test_unknown_kind(client, web_stack):
    response = _post(client, _files(web_stack), kind="paint")
    assert response.status_code == 422
    assert "kind must be one of fuse, sharpen" in response.json()["detail"]


def test_unknown_field(client, web_stack):
    response = _post(client, _files(web_stack), output="/etc/passwd")
    assert response.status_code == 422
    assert "'output'" in response.json()["detail"]


def test_overlong_field(client, web_stack):
    response = _post(client, _files(web_stack), method="x" * 5000)
    assert response.status_code == 400


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ("application/json", b'{"files": []}'),
        ("multipart/form-data", b"no boundary"),
        ("multipart/form-data; boundary=xyz", b"--xyz\r\nnot a header line\r\n\r\n"),
    ],
)
def test_malformed_body_is_a_bad_request(client, content_type, body):
    response = client.post("/api/jobs", content=body, headers={"content-type": content_type})
    assert response.status_code == 400
    assert response.json()["detail"]
    assert _job_folders(client) == []


@pytest.mark.parametrize(
    "name", ["../../etc/passwd", "..\\..\\windows\\win.ini", "/etc/passwd", "..", "a/../../b.png"]
)
def test_path_traversal_file_names_stay_in_the_job_folder(client, web_stack, tmp_path, name):
    before = sorted(p for p in tmp_path.rglob("*") if p.is_file())
    names = [name, "second.png", "third.png"]
    response = _post(client, _files(web_stack, names), method="pyramid", align="none")
    assert response.status_code == 202, response.text
    folders = _job_folders(client)
    assert len(folders) == 1
    stored = sorted(p.name for p in folders[0].iterdir() if p.name.startswith("frame_"))
    assert stored == ["frame_0000.png", "frame_0001.png", "frame_0002.png"]
    # nothing was written anywhere else
    after = sorted(p for p in tmp_path.rglob("*") if p.is_file() and folders[0] not in p.parents)
    assert after == before
    body = client.get(f"/api/jobs/{response.json()['id']}").json()
    assert body["state"] in ("queued", "running", "done"), body


def test_display_name_is_cleaned():
    from allfocus.web.uploads import display_name

    assert display_name("../../etc/passwd", 0) == "passwd"
    assert display_name("C:\\photos\\IMG_1.JPG", 0) == "IMG_1.JPG"
    assert display_name("..", 2) == "file 3"
    assert display_name("bad\x00name\n.png", 0) == "badname.png"
    assert len(display_name("a" * 1000, 0)) == 200


# ------------------------------------------------------------------- job ids


@pytest.mark.parametrize(
    "job_id",
    [
        "not-a-job",
        "..",
        "%2e%2e%2f%2e%2e%2fetc%2fpasswd",
        str(uuid.uuid1()),
        str(uuid.uuid4()).upper(),
        uuid.uuid4().hex,
        "{" + str(uuid.uuid4()) + "}",
    ],
)
@pytest.mark.parametrize("suffix", ["", "/result", "/depth", "/preview/after"])
def test_malformed_job_id(client, job_id, suffix):
    response = client.get(f"/api/jobs/{job_id}{suffix}")
    assert response.status_code in (400, 404)
    if response.status_code == 400:
        assert "is not a job id" in response.json()["detail"]


def test_unknown_job_id(client):
    job_id = str(uuid.uuid4())
    for suffix in ("", "/result", "/depth", "/preview/before"):
        response = client.get(f"/api/jobs/{job_id}{suffix}")
        assert response.status_code == 404
        assert "no job" in response.json()["detail"]
    assert client.delete(f"/api/jobs/{job_id}").status_code == 404


def test_traversal_in_the_url_never_reaches_a_file(client):
    for url in (
        "/api/jobs/../../etc/passwd",
        "/api/jobs/..%2F..%2Fetc%2Fpasswd/result",
        f"/api/jobs/{uuid.uuid4()}/preview/..%2F..%2Fapp.py",
    ):
        assert client.get(url).status_code in (400, 404)


# ------------------------------------------------------------- job lifecycle


@pytest.fixture
def blocked(monkeypatch):
    """Hold the worker inside the fusion until the event is set."""
    gate = threading.Event()
    real = tasks.run_fuse

    def run_fuse(*args, **kwargs):
        gate.wait(30)
        return real(*args, **kwargs)

    monkeypatch.setattr(tasks, "run_fuse", run_fuse)
    yield gate
    gate.set()


def test_result_before_done_is_a_conflict(client, web_stack, blocked, wait_job):
    job_id = _post(client, _files(web_stack), method="pyramid", align="none").json()["id"]
    second = _post(client, _files(web_stack), method="pyramid", align="none").json()["id"]
    assert client.get(f"/api/jobs/{second}").json()["state"] == "queued"
    for suffix in ("/result", "/depth", "/preview/after"):
        response = client.get(f"/api/jobs/{job_id}{suffix}")
        assert response.status_code == 409
        assert "not finished" in response.json()["detail"]
    blocked.set()
    assert wait_job(client, job_id)["state"] == "done"
    assert client.get(f"/api/jobs/{job_id}/result").status_code == 200
    assert wait_job(client, second)["state"] == "done"


def test_bad_format(client, web_stack, wait_job):
    job_id = _post(client, _files(web_stack), method="pyramid", align="none").json()["id"]
    wait_job(client, job_id)
    assert client.get(f"/api/jobs/{job_id}/result?format=gif").status_code == 422
    assert client.get(f"/api/jobs/{job_id}/depth?format=jpeg").status_code == 422
    assert client.get(f"/api/jobs/{job_id}/preview/secret").status_code == 422


def test_failed_job_reports_the_message_with_display_names(
    client, web_stack, monkeypatch, wait_job
):
    from allfocus._core.errors import InputError

    def run_fuse(folder, inputs, **kwargs):
        raise InputError(f"frame {inputs[1]} is 1x1 pixels but frame_0000.png is bigger")

    monkeypatch.setattr(tasks, "run_fuse", run_fuse)
    names = ["a1.png", "a2.png", "a3.png"]
    job_id = _post(client, _files(web_stack, names)).json()["id"]
    job = wait_job(client, job_id)
    assert job["state"] == "failed"
    assert job["error"] == "frame a2.png is 1x1 pixels but a1.png is bigger"
    assert job["error_status"] == 422
    response = client.get(f"/api/jobs/{job_id}/result")
    assert response.status_code == 409
    assert "the job failed" in response.json()["detail"]


def test_undecodable_frame_fails_the_job(client, web_stack, wait_job):
    data = bytearray(web_stack[1].read_bytes())
    data[60:] = b"\x00" * (len(data) - 60)  # valid header, garbage pixels
    files = [*_files([web_stack[0]]), ("files", ("bad.png", bytes(data), "image/png"))]
    job = wait_job(client, _post(client, files, align="none").json()["id"])
    assert job["state"] == "failed"
    assert "bad.png" in job["error"]
    assert "allfocus-web-" not in job["error"]  # no server paths in messages


def test_delete_removes_the_job_and_its_files(client, web_stack, wait_job):
    job_id = _post(client, _files(web_stack), method="pyramid", align="none").json()["id"]
    wait_job(client, job_id)
    folder = client.app.state.jobs.root / job_id
    assert folder.is_dir()
    assert client.delete(f"/api/jobs/{job_id}").status_code == 204
    assert not folder.exists()
    assert client.get(f"/api/jobs/{job_id}").status_code == 404


def test_delete_a_running_job_stops_it(client, web_stack, blocked, wait_job):
    job_id = _post(client, _files(web_stack), method="pyramid", align="none").json()["id"]
    jobs = client.app.state.jobs
    folder = jobs.root / job_id
    assert client.delete(f"/api/jobs/{job_id}").status_code == 204
    assert client.get(f"/api/jobs/{job_id}").status_code == 404
    blocked.set()
    # the worker removes the folder once it stops; the next job still runs
    later = _post(client, _files(web_stack), method="pyramid", align="none").json()["id"]
    assert wait_job(client, later)["state"] == "done"
    assert not folder.exists()


def test_old_jobs_are_cleaned_up(make_client, web_stack, wait_job):
    client = make_client(keep_minutes=1)
    job_id = _post(client, _files(web_stack), method="pyramid", align="none").json()["id"]
    wait_job(client, job_id)
    jobs = client.app.state.jobs
    assert jobs.cleanup() == 0
    assert jobs.cleanup(now=jobs.clock() + 61) == 1
    assert not (jobs.root / job_id).exists()
    assert client.get(f"/api/jobs/{job_id}").status_code == 404


def test_shutdown_removes_every_file(make_client, web_stack, wait_job, tmp_path):
    client = make_client()
    job_id = _post(client, _files(web_stack), method="pyramid", align="none").json()["id"]
    wait_job(client, job_id)
    root = client.app.state.jobs.root
    assert root.parent == tmp_path
    client.__exit__(None, None, None)
    assert not root.exists()


# ------------------------------------------------------------- request guard


def test_foreign_host_is_refused_on_loopback(make_client):
    from fastapi.testclient import TestClient

    client = make_client()
    other = TestClient(client.app, base_url="http://attacker.example")
    response = other.get("/api/limits")
    assert response.status_code == 403
    for host in ("localhost:8000", "127.0.0.1", "[::1]:8000"):
        assert client.get("/api/limits", headers={"host": host}).status_code == 200


def test_any_host_when_bound_elsewhere(make_client):
    from fastapi.testclient import TestClient

    client = make_client(host="0.0.0.0")
    other = TestClient(client.app, base_url="http://photos.lan")
    assert other.get("/api/limits").status_code == 200


def test_cross_site_post_is_refused(client, web_stack):
    response = client.post(
        "/api/jobs", files=_files(web_stack), headers={"origin": "http://evil.example"}
    )
    assert response.status_code == 403
    same = client.post(
        "/api/jobs",
        files=_files(web_stack),
        data={"method": "pyramid", "align": "none"},
        headers={"origin": "http://127.0.0.1"},
    )
    assert same.status_code == 202


# -------------------------------------------------------------------- sharpen


@pytest.mark.skipif(sharpen_methods() is not None, reason="sharpening is available")
def test_sharpen_unavailable_is_explained(client, web_stack):
    response = _post(client, _files(web_stack[:1]), kind="sharpen")
    assert response.status_code == 422
    assert "not available" in response.json()["detail"]


@pytest.mark.skipif(sharpen_methods() is None, reason="allfocus.restore.sharpen not available")
def test_sharpen_job(client, web_stack, tmp_path, wait_job):
    method = sharpen_methods()[1]
    response = _post(client, _files(web_stack[1:2]), kind="sharpen", method=method)
    assert response.status_code == 202, response.text
    job = wait_job(client, response.json()["id"])
    assert job["state"] == "done", job
    assert job["kind"] == "sharpen"
    png = _decode(client.get(f"/api/jobs/{job['id']}/result").content, ".png", tmp_path)
    assert png.shape == (96, 128, 3)
    assert png.dtype == np.uint8
    assert client.get(f"/api/jobs/{job['id']}/preview/before").status_code == 200


@pytest.mark.skipif(sharpen_methods() is None, reason="allfocus.restore.sharpen not available")
def test_sharpen_takes_one_photo(client, web_stack):
    response = _post(client, _files(web_stack[:2]), kind="sharpen")
    assert response.status_code == 422
    assert "exactly one photo" in response.json()["detail"]


@pytest.mark.skipif(sharpen_methods() is None, reason="allfocus.restore.sharpen not available")
def test_sharpen_unknown_method(client, web_stack):
    response = _post(client, _files(web_stack[:1]), kind="sharpen", method="magic")
    assert response.status_code == 422
    assert "'magic'" in response.json()["detail"]


@pytest.fixture
def stand_in_sharpen(monkeypatch):
    """A stand-in ``allfocus.restore.sharpen`` (a tiny unsharp mask) with a blur map or not."""
    from types import SimpleNamespace

    import allfocus.restore
    from allfocus._core.registry import Registry
    from allfocus._core.validate import as_float_image

    def use(*, defocus: bool):
        def sharpen(image, *, method, channel_axis=None):
            assert method == "standin"
            x = as_float_image(image)
            blurred = (
                np.roll(x, 1, 0) + np.roll(x, -1, 0) + np.roll(x, 1, 1) + np.roll(x, -1, 1)
            ) / 4
            out = np.clip(x + 0.5 * (x - blurred), 0, 1)
            blur = np.full(x.shape[:2], 1.5, dtype=np.float32) if defocus else None
            return SimpleNamespace(image=out, defocus_map=blur)

        registry = Registry("sharpen method")
        registry.register("standin", help="a stand-in for the tests")(sharpen)
        for name, value in [
            ("sharpen", sharpen),
            ("list_methods", registry.names),
            ("SHARPEN_METHODS", registry),
            ("DEFAULT_METHOD", "standin"),
        ]:
            monkeypatch.setattr(allfocus.restore, name, value, raising=False)

    return use


@pytest.mark.parametrize("defocus", [True, False])
def test_sharpen_job_with_a_stand_in(
    client, web_stack, tmp_path, wait_job, stand_in_sharpen, defocus
):
    stand_in_sharpen(defocus=defocus)
    methods = client.get("/api/methods").json()["sharpen"]
    assert methods == {
        "methods": [{"name": "standin", "description": "a stand-in for the tests"}],
        "default": "standin",
    }
    response = _post(client, _files(web_stack[1:2], ["IMG_7.png"]), kind="sharpen")
    assert response.status_code == 202, response.text
    job = wait_job(client, response.json()["id"])
    assert job["state"] == "done", job
    assert job["info"]["frames"] == ["IMG_7.png"]
    assert job["info"]["depth"] is defocus
    png = client.get(f"/api/jobs/{job['id']}/result")
    assert "IMG_7_sharpened.png" in png.headers["content-disposition"]
    assert _decode(png.content, ".png", tmp_path).shape == (96, 128, 3)
    depth = client.get(f"/api/jobs/{job['id']}/depth?format=tiff")
    if defocus:
        np.testing.assert_allclose(_decode(depth.content, ".tif", tmp_path), 1.5)
    else:
        assert depth.status_code == 404
        assert client.get(f"/api/jobs/{job['id']}/preview/depth").status_code == 404
    two = _post(client, _files(web_stack[:2]), kind="sharpen")
    assert two.status_code == 422
    assert "exactly one photo" in two.json()["detail"]

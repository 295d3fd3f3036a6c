"""Batch fusion: planning, a bad stack among good ones, resume and the CLI, on a local cluster."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from allfocus.parallel import BatchJob, find_stacks, fuse_batch, local_client, plan_batch
from allfocus.pipeline import FuseConfig
from allfocus.synth.files import write_synthetic_stack

pytest.importorskip("distributed")

CONFIG = FuseConfig(align="none", exposure_match=False)


@pytest.fixture(scope="module")
def stacks(tmp_path_factory) -> Path:
    """Three tiny good stacks and one bad one (files that are not images)."""
    root = tmp_path_factory.mktemp("batch") / "stacks"
    for i in range(3):
        folder = root / f"stack_{i}"
        write_synthetic_stack(folder, num_frames=3, shape=(40, 48), seed=i)
    bad = root / "stack_bad"
    bad.mkdir()
    for name in ("a.png", "b.png"):
        (bad / name).write_bytes(b"not an image")
    return root


@pytest.fixture(scope="module")
def client():
    with local_client(2) as c:
        yield c


def test_find_stacks(stacks):
    found = find_stacks([stacks])
    assert [p.name for p in found] == ["stack_0", "stack_1", "stack_2", "stack_bad"]
    assert find_stacks([stacks / "stack_1"]) == [stacks / "stack_1"]
    assert [p.name for p in find_stacks([str(stacks / "stack_[01]")])] == ["stack_0", "stack_1"]
    with pytest.raises(ValueError, match="no such folder"):
        find_stacks([stacks / "missing"])
    with pytest.raises(ValueError, match="matches no folder"):
        find_stacks([str(stacks / "nothing*")])
    with pytest.raises(ValueError, match="is a file"):
        find_stacks([stacks / "stack_0" / "frame_00.png"])


def test_output_folder_among_the_stacks_is_not_a_stack(tmp_path):
    """``-o STACKS/out`` beside the stacks: a re-run must not fuse the outputs as a stack."""
    root = tmp_path / "stacks"
    for i in range(2):
        write_synthetic_stack(root / f"s{i}", num_frames=3, shape=(40, 48), seed=i)
    out = root / "out"
    out.mkdir()  # as the command line does
    jobs = plan_batch([root], out)
    outcomes = fuse_batch(jobs, config=CONFIG)
    assert [o.status for o in outcomes] == ["fused", "fused"]
    assert sorted(p.name for p in out.iterdir()) == ["s0.tif", "s1.tif"]
    for inputs in ([root], [str(root / "*")]):
        assert [j.name for j in plan_batch(inputs, out)] == ["s0", "s1"]
    assert [o.status for o in fuse_batch(plan_batch([root], out), config=CONFIG)] == [
        "skipped",
        "skipped",
    ]
    with pytest.raises(ValueError, match="is the output folder too"):
        plan_batch([out], out)
    with pytest.raises(ValueError, match="is the output folder too"):
        plan_batch([root / "s0"], root / "s0")


def test_plan_batch(stacks, tmp_path):
    jobs = plan_batch([stacks], tmp_path, suffix=".png")
    assert jobs[0] == BatchJob("stack_0", stacks / "stack_0", tmp_path / "stack_0.png")
    with pytest.raises(ValueError, match="suffix"):
        plan_batch([stacks], tmp_path, suffix=".gif")
    other = tmp_path / "other" / "stack_0"
    other.mkdir(parents=True)
    (other / "f.png").write_bytes(b"")
    with pytest.raises(ValueError, match="same name"):
        plan_batch([stacks, other], tmp_path)


def _statuses(outcomes):
    return {o.name: o.status for o in outcomes}


def test_in_process_batch_reports_bad_stack_and_resumes(stacks, tmp_path):
    jobs = plan_batch([stacks], tmp_path)
    seen = []
    outcomes = fuse_batch(jobs, config=CONFIG, progress=lambda o, d, t: seen.append((d, t)))
    assert _statuses(outcomes) == {
        "stack_0": "fused",
        "stack_1": "fused",
        "stack_2": "fused",
        "stack_bad": "failed",
    }
    assert seen == [(i, 4) for i in range(1, 5)]
    bad = outcomes[-1]
    assert "ReadError" in bad.message and "a.png" in bad.message
    assert outcomes[0].frames == 3
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "stack_0.tif",
        "stack_1.tif",
        "stack_2.tif",
    ]
    again = fuse_batch(jobs, config=CONFIG)
    assert [o.status for o in again] == ["skipped"] * 3 + ["failed"]
    forced = fuse_batch(jobs[:1], config=CONFIG, overwrite=True)
    assert forced[0].status == "fused"


@pytest.mark.filterwarnings("ignore::ResourceWarning")
def test_cluster_batch_matches_in_process(stacks, tmp_path, client):
    local = tmp_path / "local"
    local.mkdir()
    fuse_batch(plan_batch([stacks], local), config=CONFIG)
    remote = tmp_path / "remote"
    remote.mkdir()
    outcomes = fuse_batch(plan_batch([stacks], remote), client=client, config=CONFIG)
    assert _statuses(outcomes)["stack_bad"] == "failed"
    assert sum(o.status == "fused" for o in outcomes) == 3
    from allfocus.io import read_image

    for name in ("stack_0", "stack_1", "stack_2"):
        np.testing.assert_array_equal(
            read_image(remote / f"{name}.tif").array, read_image(local / f"{name}.tif").array
        )
    resumed = fuse_batch(plan_batch([stacks], remote), client=client, config=CONFIG)
    assert [o.status for o in resumed] == ["skipped"] * 3 + ["failed"]


@pytest.mark.filterwarnings("ignore::ResourceWarning")
def test_cli_batch_exit_codes(stacks, tmp_path, capsys, client):
    import allfocus.cli.batch  # noqa: F401  (registers the command until cli/app.py imports it)
    from allfocus.cli.app import main

    out = tmp_path / "out"
    args = [
        "batch",
        str(stacks),
        "-o",
        str(out),
        "--workers",
        "2",
        "--align",
        "none",
        "--no-exposure-match",
    ]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "stack_bad" in err and "3 fused" in err and "1 failed" in err
    assert sorted(p.name for p in out.iterdir()) == ["stack_0.tif", "stack_1.tif", "stack_2.tif"]
    on_cluster = ["--scheduler", client.scheduler.address]
    assert main(["batch", str(stacks / "stack_0"), *args[2:], *on_cluster]) == 0
    assert "1 skipped" in capsys.readouterr().err
    assert main(["batch", str(tmp_path / "missing"), "-o", str(out)]) == 2


@pytest.mark.filterwarnings("ignore::ResourceWarning")
def test_cli_batch_restore_reaches_each_stack(stacks, tmp_path, capsys, client):
    import allfocus.cli.batch  # noqa: F401  (registers the command until cli/app.py imports it)
    from allfocus.cli.app import main
    from allfocus.io import read_image

    common = [
        str(stacks / "stack_0"),
        "--scheduler",
        client.scheduler.address,
        "--align",
        "none",
        "--no-exposure-match",
        "-q",
    ]
    plain, restored = tmp_path / "plain", tmp_path / "restored"
    assert main(["batch", *common, "-o", str(plain)]) == 0
    assert (
        main(["batch", *common, "-o", str(restored), "--restore", "--restore-method", "defocus"])
        == 0
    )
    before = read_image(plain / "stack_0.tif").array
    after = read_image(restored / "stack_0.tif").array
    assert after.shape == before.shape and after.dtype == before.dtype
    assert not np.array_equal(after, before)
    # the same result as fusing in this process with the same config
    local = tmp_path / "local"
    local.mkdir()
    fuse_batch(
        plan_batch([stacks / "stack_0"], local),
        config=FuseConfig(align="none", exposure_match=False, restore="defocus"),
    )
    np.testing.assert_array_equal(read_image(local / "stack_0.tif").array, after)
    capsys.readouterr()

    bad = tmp_path / "bad"
    assert (
        main(["batch", *common, "-o", str(bad), "--restore", "--restore-method", "sharpest"]) == 2
    )
    err = capsys.readouterr().err
    assert "--restore-method" in err and "'sharpest'" in err and "defocus" in err
    assert not bad.exists()  # refused before any stack is fused

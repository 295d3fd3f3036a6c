"""The one pipeline: config validation, in-memory and file paths, progress reporting."""

from __future__ import annotations

import numpy as np
import pytest

from allfocus._core.errors import ConfigError, InputError
from allfocus.fusion import fuse
from allfocus.pipeline import FuseConfig, fuse_files, fuse_stack
from allfocus.synth import synthetic_stack


def test_config_validation():
    with pytest.raises(InputError, match="choose one of"):
        FuseConfig(method="nope")
    with pytest.raises(ConfigError, match="align must be one of"):
        FuseConfig(align="sideways")
    with pytest.raises(ConfigError, match="transforms"):
        FuseConfig(align="none", transforms="t.json")


def test_fuse_stack_without_alignment_equals_fuse():
    s = synthetic_stack((64, 80), 3, rng=4)
    result, dropped, model = fuse_stack(
        s.frames, config=FuseConfig(align="none", exposure_match=False), channel_axis=-1
    )
    direct = fuse(s.frames, method="depthmap", channel_axis=-1)
    np.testing.assert_allclose(result.image, direct.image, atol=1e-6)
    assert dropped == {} and model == "none"


@pytest.mark.parametrize("align", ["none", "translation"])
def test_fuse_stack_leaves_the_callers_frames_alone(align):
    # Exposure matching writes into the frames only when they are the
    # pipeline's own (aligned here); a float32 stack passed in is kept as is.
    s = synthetic_stack((64, 80), 3, rng=4)
    frames = s.frames.astype(np.float32)
    frames[0] *= np.float32(0.8)
    kept = frames.copy()
    result, _, _ = fuse_stack(frames, config=FuseConfig(align=align), channel_axis=-1)
    np.testing.assert_array_equal(frames, kept)
    assert np.isfinite(result.image).all()


@pytest.mark.parametrize("align", ["none", "translation"])
def test_twelve_bit_frames_fuse_like_the_same_data_spanning_the_type(align):
    """12-bit camera data in 16-bit frames: aligned, matched and fused as if it spanned
    [0, 1] (2 dB were lost at 5 frames), the image given back in the type's scale;
    the caller's frames are left alone."""
    s = synthetic_stack((160, 200), 5, noise=0.002, rng=5)
    twelve = np.round(s.frames * 4095).astype(np.uint16)
    kept = twelve.copy()
    config = FuseConfig(align=align)
    result, _, _ = fuse_stack(twelve, config=config, channel_axis=-1)
    full, _, _ = fuse_stack(twelve.astype(np.float32) / 4095, config=config, channel_axis=-1)
    np.testing.assert_array_equal(twelve, kept)
    assert result.image.max() <= 4095 / 65535 + 1e-6
    np.testing.assert_allclose(result.image * (65535 / 4095), full.image, atol=2e-4)


def test_fuse_files_reports_progress_and_writes(synthetic_dir, tmp_path):
    stages = []
    out = tmp_path / "out.png"
    report = fuse_files(
        [str(synthetic_dir / "frame_*.png")],
        out,
        config=FuseConfig(align="none"),
        progress=lambda stage, done, total: stages.append((stage, done, total)),
    )
    assert out.exists() and report.output == out
    assert [s for s, d, t in stages if d == t] == ["read", "exposure", "fuse", "write"]
    assert report.frames == [f"frame_{k:02d}.png" for k in range(4)]


def test_fused_quality_beats_every_frame(synthetic_dir):
    from allfocus import io
    from allfocus.metrics import psnr

    truth = io.read_image(synthetic_dir / "truth" / "sharp.png").array
    report = fuse_files([str(synthetic_dir / "frame_*.png")], None, config=FuseConfig())
    fused = report.result.image
    frames = io.read_stack([str(synthetic_dir / "frame_*.png")]).frames
    best_frame = max(psnr(f, truth, channel_axis=-1) for f in frames)
    assert psnr(fused, truth, channel_axis=-1) > best_frame + 3


def test_streaming_path_matches_in_memory(synthetic_dir, tmp_path):
    from allfocus.metrics import psnr

    frames = [str(synthetic_dir / "frame_*.png")]
    # streaming does not un-mix rims; compare the fusion itself
    base = FuseConfig(
        align="none", exposure_match=False, params={"unmix_rims": False, "sharpen_between": False}
    )
    streamed = fuse_files(
        frames, None, config=FuseConfig(**{**base.__dict__, "streaming": "always"})
    )
    memory = fuse_files(frames, None, config=FuseConfig(**{**base.__dict__, "streaming": "never"}))
    assert psnr(streamed.result.image, memory.result.image, channel_axis=-1) > 50


@pytest.mark.parametrize("method", ["depthmap", "gacn"])
def test_streaming_twelve_bit_files_fuse_like_sixteen_bit(tmp_path, method):
    """Frame by frame (and read twice for gacn), 12-bit data in 16-bit files spans
    [0, 1] as in memory: the same image as the data at 16 bits, in the 12-bit scale."""
    import tifffile

    s = synthetic_stack((96, 128), 4, noise=0.002, rng=6)
    paths = {}
    for bits in (12, 16):
        top = 2**bits - 1
        for k, frame in enumerate(np.round(s.frames * 4095) / 4095):
            tifffile.imwrite(tmp_path / f"b{bits}_{k}.tif", np.round(frame * top).astype(np.uint16))
        paths[bits] = [str(tmp_path / f"b{bits}_*.tif")]
    config = FuseConfig(method=method, streaming="always")
    twelve = fuse_files(paths[12], None, config=config).result.image
    sixteen = fuse_files(paths[16], None, config=config).result.image
    assert twelve.max() <= 4095 / 65535 + 1e-6
    np.testing.assert_allclose(twelve * (65535 / 4095), sixteen, atol=1e-4)


def test_streaming_refuses_what_it_cannot_do():
    FuseConfig(streaming="always")  # aligns frame by frame
    FuseConfig(streaming="always", method="gacn")  # reads the frames twice
    from allfocus.fusion.streaming import STREAMING_METHODS
    from allfocus.pipeline.config import STREAMED_METHODS

    assert set(STREAMED_METHODS) == {*STREAMING_METHODS, "gacn"}
    with pytest.raises(ConfigError, match="whole stack"):
        FuseConfig(streaming="always", align="none", method="guided")
    with pytest.raises(ConfigError, match="streaming must be"):
        FuseConfig(streaming="sometimes")


def test_stack_too_big_for_memory_streams_or_is_refused_with_a_way_out(
    synthetic_dir, tmp_path, monkeypatch
):
    from allfocus.pipeline import run

    frames = [str(synthetic_dir / "frame_*.png")]
    out = tmp_path / "out.png"
    monkeypatch.setattr(run, "_memory_available", lambda: 1 << 20)  # 1 MiB free
    with pytest.raises(InputError, match="--streaming") as held:
        fuse_files(frames, out, config=FuseConfig(streaming="never"))
    assert "GiB of memory" in str(held.value) and "frames of" in str(held.value)
    with pytest.raises(InputError, match="--method depthmap"):
        fuse_files(frames, out, config=FuseConfig(method="guided"))
    assert not out.exists()
    # auto fuses it frame by frame, aligned and exposure-matched
    report = fuse_files(frames, out)
    assert out.exists() and report.align_model != "none"


def test_memory_available_is_positive():
    from allfocus.pipeline import run

    assert run._memory_available() > 0


@pytest.mark.parametrize("bits", [8, 16])
def test_streaming_matches_exposure_like_the_in_memory_path(tmp_path, bits):
    from allfocus import io
    from allfocus.metrics import psnr

    s = synthetic_stack((96, 128), 4, rng=3, max_radius=4.0)
    y, x = np.mgrid[0:96, 0:128] / 128.0
    drift = [0.8, 1.0, 1.0, 1.15 * (1.0 - 0.2 * ((x - 0.5) ** 2 + (y - 0.4) ** 2))]
    dtype = np.uint8 if bits == 8 else np.uint16
    for k, (frame, gain) in enumerate(zip(s.frames, drift, strict=True)):
        shaded = np.clip(
            frame * np.asarray(gain)[..., None] if np.ndim(gain) else frame * gain, 0, 1
        )
        io.write_image(tmp_path / f"f{k}.png", shaded, dtype=dtype)
    frames = [str(tmp_path / "f*.png")]

    def run(streaming: str, exposure: bool) -> np.ndarray:
        cfg = FuseConfig(
            align="none",
            exposure_match=exposure,
            streaming=streaming,
            params={"unmix_rims": False, "sharpen_between": False},
        )
        return fuse_files(frames, None, config=cfg).result.image

    memory = run("never", True)
    streamed = run("always", True)
    unmatched = run("always", False)
    assert psnr(streamed, memory, channel_axis=-1) > 45
    # matching mattered: without it the result is far from the matched one
    assert psnr(unmatched, memory, channel_axis=-1) < psnr(streamed, memory, channel_axis=-1) - 10


def _misaligned_files(tmp_path, num=5, outlier=False):
    from allfocus import io
    from allfocus.align._synthetic import misaligned_stack

    m = misaligned_stack((96, 128), num, max_shift=6.0, color=True, noise=0.002, rng=4)
    frames = list(m.frames)
    if outlier:  # another scene: cannot be registered
        frames[0] = synthetic_stack((96, 128), 2, rng=99).frames[0]
    for k, frame in enumerate(frames):
        io.write_image(tmp_path / f"f{k}.png", frame, dtype=np.uint8)
    return [str(tmp_path / "f*.png")]


def test_streaming_alignment_matches_the_in_memory_path(tmp_path):
    from allfocus.metrics import psnr

    frames = _misaligned_files(tmp_path)
    reports = {
        mode: fuse_files(frames, None, config=FuseConfig(align="auto", streaming=mode))
        for mode in ("never", "always")
    }
    memory, streamed = reports["never"], reports["always"]
    assert memory.align_model == streamed.align_model != "none"
    assert streamed.result.image.shape == memory.result.image.shape
    assert psnr(streamed.result.image, memory.result.image, channel_axis=-1) > 40
    # and it did align: without alignment the result is far off
    plain = fuse_files(frames, None, config=FuseConfig(align="none", streaming="always"))
    assert plain.result.image.shape != memory.result.image.shape or (
        psnr(plain.result.image, memory.result.image, channel_axis=-1) < 30
    )


def test_streaming_alignment_drops_or_names_the_outlier(tmp_path):
    from allfocus.align import AlignmentError

    frames = _misaligned_files(tmp_path, outlier=True)
    with pytest.raises(AlignmentError, match="frame 0"):
        fuse_files(frames, None, config=FuseConfig(streaming="always"))
    dropping = FuseConfig(streaming="always", drop_unaligned=True)
    report = fuse_files(frames, None, config=dropping)
    assert list(report.dropped) == ["f0.png"]
    memory = fuse_files(frames, None, config=FuseConfig(streaming="never", drop_unaligned=True))
    assert list(memory.dropped) == ["f0.png"]


def test_streaming_applies_saved_transforms(tmp_path):
    from allfocus.align import save_transforms
    from allfocus.metrics import psnr

    frames = _misaligned_files(tmp_path)
    first = fuse_files(frames, None, config=FuseConfig(streaming="never"))
    from allfocus import io
    from allfocus.align import estimate_transforms

    stack = io.read_stack(frames)
    matrices, _, _ = estimate_transforms(stack.frames, channel_axis=-1)
    saved = tmp_path / "transforms.json"
    save_transforms(saved, stack.names, matrices)
    config = FuseConfig(transforms=str(saved), streaming="always")
    streamed = fuse_files(frames, None, config=config)
    assert streamed.align_model == "saved"
    assert psnr(streamed.result.image, first.result.image, channel_axis=-1) > 40


def test_auto_fuses_small_depthmap_stacks_in_memory_for_the_defocus_model(
    synthetic_dir, monkeypatch
):
    from allfocus import io
    from allfocus.pipeline import run

    frames = [str(synthetic_dir / "frame_*.png")]
    stack = np.stack([io.read_image(p).array for p in sorted(synthetic_dir.glob("frame_*"))])
    plain = {"unmix_rims": False, "sharpen_between": False}
    base = {"align": "none", "exposure_match": False}
    assert not run._use_streaming(FuseConfig(**base), io.find_frames(frames))
    assert run._use_streaming(FuseConfig(**base, params=plain), io.find_frames(frames))
    auto = fuse_files(frames, None, config=FuseConfig(**base)).result.image
    direct = fuse(stack, channel_axis=-1).image
    np.testing.assert_allclose(auto, direct, atol=1e-5)
    # over the size limit the stack streams, without those steps
    monkeypatch.setattr(run, "DETAIL_IN_MEMORY", 1)
    assert run._use_streaming(FuseConfig(**base), io.find_frames(frames))


def test_auto_streams_pyramid_over_a_quarter_of_the_memory(synthetic_dir, monkeypatch):
    from allfocus import io
    from allfocus.pipeline import run

    frames = io.find_frames([str(synthetic_dir / "frame_*.png")])
    config = FuseConfig(method="pyramid", align="none")
    monkeypatch.setattr(run, "_memory_available", lambda: 1 << 40)
    assert not run._use_streaming(config, frames)
    # the stack (4 x 96 x 128 x 3 floats, 590 KB) is over a quarter of 2 MB
    monkeypatch.setattr(run, "_memory_bytes", lambda: 2 << 20)
    assert run._use_streaming(config, frames)


@pytest.mark.parametrize("method", ["depthmap", "pyramid"])
def test_in_memory_stacks_over_the_detail_limit_skip_the_defocus_model(
    synthetic_dir, monkeypatch, method
):
    from allfocus import io
    from allfocus.pipeline import run

    frames = io.find_frames([str(synthetic_dir / "frame_*.png")])
    config = FuseConfig(method=method, align="none", streaming="never")
    assert run._detail_params(config, frames) is config
    monkeypatch.setattr(run, "DETAIL_IN_MEMORY", 1)
    big = run._detail_params(config, frames)
    if method == "depthmap":
        assert big.params == {"unmix_rims": False, "sharpen_between": False}
    else:
        assert big is config  # pyramid has no defocus model
    # an explicit choice is kept
    forced = FuseConfig(method=method, align="none", params={"unmix_rims": True})
    if method == "depthmap":
        assert run._detail_params(forced, frames).params["unmix_rims"] is True


def test_the_report_says_how_the_stack_was_fused(synthetic_dir, monkeypatch):
    from allfocus.pipeline import run

    frames = [str(synthetic_dir / "frame_*.png")]
    base = {"align": "none", "exposure_match": False}

    def how(**options):
        return fuse_files(frames, None, config=FuseConfig(**base, **options)).how

    plain = {"unmix_rims": False, "sharpen_between": False}
    assert how() == "in memory"
    assert how(method="pyramid", streaming="always") == "frame by frame"
    monkeypatch.setattr(run, "DETAIL_IN_MEMORY", 1)  # over it the size leaves the model out
    assert how() == "frame by frame, without the defocus model"
    assert how(params=plain) == "frame by frame"  # the caller's choice: nothing to say
    assert how(streaming="never") == "in memory, without the defocus model"
    assert how(streaming="never", params=plain) == "in memory"
    assert how(streaming="never", params={"unmix_rims": True, "sharpen_between": True}) == (
        "in memory"
    )
    assert how(method="pyramid", streaming="never") == "in memory"

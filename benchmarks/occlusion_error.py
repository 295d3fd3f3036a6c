"""Where the default method's error lies on synthetic stacks: occlusion band vs interior.

For 5 and 10 frames (the bench_fusion scenes, 8-bit quantised) it prints the PSNR
of `depthmap` overall, in an 8 px band around depth discontinuities and in the
interior, with its defocus model (the default) and without it (the plain
decision map), the same for an oracle that copies each pixel from the frame in
which its surface is sharpest, and the share of squared error inside the band.

    python benchmarks/occlusion_error.py
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi

from allfocus.fusion import fuse
from allfocus.fusion.depthmap import DEFOCUS_MODEL_OFF
from allfocus.synth import synthetic_stack


def psnr_of(mse: float) -> float:
    return float(10 * np.log10(1 / mse))


def main() -> None:
    for n in (5, 10):
        for seed in (100, 101):
            s = synthetic_stack((384, 512), n, rng=seed, max_radius=6, noise=0.003)
            frames = np.round(s.frames * 255) / 255
            gy, gx = np.gradient(s.depth)
            band = ndi.binary_dilation(np.hypot(gx, gy) > 0.05, iterations=8)
            oracle = np.take_along_axis(frames, s.best_frame[None, ..., None], 0)[0]
            oerr = (oracle - s.sharp) ** 2
            print(
                f"{n:2d} frames seed {seed}: oracle {psnr_of(oerr.mean()):.2f} dB "
                f"(interior {psnr_of(oerr[~band].mean()):.2f}); band {band.mean() * 100:.1f} % "
                "of pixels"
            )
            for name, params in (("plain", DEFOCUS_MODEL_OFF), ("model", {})):
                fused = fuse(frames, method="depthmap", channel_axis=-1, **params).image
                err = (fused - s.sharp) ** 2
                print(
                    f"    depthmap {name}: {psnr_of(err.mean()):.2f} dB "
                    f"(band {psnr_of(err[band].mean()):.2f}; "
                    f"interior {psnr_of(err[~band].mean()):.2f}); share of error in band "
                    f"{err[band].sum() / err.sum():.2f}"
                )


if __name__ == "__main__":
    main()

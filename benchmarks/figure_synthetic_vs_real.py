"""Draw docs/figures/synthetic_vs_real.png: synthetic frames beside the real ABDOMINAL frame.

Run: ``.venv/bin/python benchmarks/figure_synthetic_vs_real.py [--out PNG]``
(needs ../shared/data for the real frame; the synthetic panels are always drawn).
"""

from __future__ import annotations

import argparse
from pathlib import Path


def main() -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np
    from PIL import Image

    from sonomtl.data.synthetic.abdominal import render_abdominal_image
    from sonomtl.data.synthetic.sweeps import render_sweep_clip
    from sonomtl.fileio import atomic_path, shared_data_dir

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="docs/figures/synthetic_vs_real.png")
    args = parser.parse_args()
    clip = render_sweep_clip(0, seed=0, n_frames=49)
    acp = [i for i, label in enumerate(clip.labels) if label == "ACP"]
    picks = [
        ("synthetic sweep: ACP", clip.frames[acp[len(acp) // 2]]),
        (
            "synthetic sweep: BG (kidneys)",
            clip.frames[int(np.argmin(np.abs(np.asarray(clip.levels) - 0.4)))],
        ),
        (
            "synthetic sweep: BG (thorax)",
            clip.frames[int(np.argmin(np.abs(np.asarray(clip.levels) - 0.9)))],
        ),
        (
            "synthetic abdominal: kidney_right_long",
            render_abdominal_image(1, seed=0, label="kidney_right_long").image,
        ),
        (
            "synthetic abdominal: liver_right_long",
            render_abdominal_image(2, seed=0, label="liver_right_long").image,
        ),
    ]
    root = shared_data_dir()
    real = None if root is None else root / "sononet/example_images/ABDOMINAL.tiff"
    panels = []
    if real is not None and real.is_file():
        grey = np.asarray(Image.open(real).convert("RGB"), dtype=np.float32).mean(axis=2)
        panels.append(("real: SonoNet example ABDOMINAL.tiff", grey))
    panels += picks
    fig, axes = plt.subplots(2, 3, figsize=(15, 9))
    for ax, (title, image) in zip(axes.ravel(), panels):
        ax.imshow(image, cmap="gray", vmin=0, vmax=255)
        ax.set_title(title, fontsize=10)
        ax.axis("off")
    for ax in axes.ravel()[len(panels) :]:
        ax.axis("off")
    fig.tight_layout()
    out = Path(args.out)
    with atomic_path(out) as tmp:
        fig.savefig(tmp, dpi=80)
    print(out)


if __name__ == "__main__":
    main()

"""The 13 labelled SonoNet example frames (Baumgartner et al., IEEE TMI 2017) to a dataset.

Source: the "SonoNet-weights" repository's ``example_images/*.tiff`` (RGB
screen captures, 975 x 735, Apache-2.0); the file name is the true label
(``BRAIN-CB.tiff`` -> ``"Brain (Cb.)"``). The dataset keeps the authors'
preprocessing: crop rows 115:734 and columns 81:874 (``crop`` in
``dataset.yaml``), input size 224 x 288 (rows x cols), grey = channel mean,
``255 * (x - mean) / std`` normalisation (recorded in ``metadata``). The class
list is the 14 network outputs in their published order; there is no example
of ``Background``.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from sonomtl.errors import InputError

__all__ = ["import_sononet_examples", "SONONET_LABELS", "SONONET_CROP_RC", "label_from_filename"]

SONONET_LABELS = (
    "3VV", "4CH", "Abdominal", "Background", "Brain (Cb.)", "Brain (Tv.)", "Femur", "Kidneys",
    "Lips", "LVOT", "Profile", "RVOT", "Spine (cor.)", "Spine (sag.)",
)
SONONET_CROP_RC = (115, 734, 81, 874)
SONONET_INPUT_HW = (224, 288)

_FILE_LABELS = {
    "3VV": "3VV", "4CH": "4CH", "ABDOMINAL": "Abdominal", "BACKGROUND": "Background",
    "BRAINCB": "Brain (Cb.)", "BRAINTV": "Brain (Tv.)", "FEMUR": "Femur", "KIDNEYS": "Kidneys",
    "LIPS": "Lips", "LVOT": "LVOT", "PROFILE": "Profile", "RVOT": "RVOT",
    "SPINECORONAL": "Spine (cor.)", "SPINECOR": "Spine (cor.)",
    "SPINESAGITTAL": "Spine (sag.)", "SPINESAG": "Spine (sag.)",
}


def label_from_filename(name: str) -> str | None:
    """The SonoNet label a file name stands for, or None.

    Examples
    --------
    >>> label_from_filename("BRAIN-CB.tiff"), label_from_filename("spine_sagittal.png")
    ('Brain (Cb.)', 'Spine (sag.)')
    """
    key = re.sub(r"[^0-9A-Z]", "", Path(name).stem.upper())
    return _FILE_LABELS.get(key)


def import_sononet_examples(
    *, src: str | os.PathLike[str], out: str | os.PathLike[str]
) -> dict[str, Any]:
    """Import the labelled SonoNet example frames into a dataset folder ``out``.

    Parameters
    ----------
    src : the folder of ``*.tiff`` frames, or the SonoNet folder holding ``example_images/``.
    out : the dataset folder to write (``dataset.yaml``, ``manifest.csv``, ``images/``).

    Returns
    -------
    dict
        ``n_images``, ``labels`` (label -> count), ``classes_without_images``, ``out``.

    Raises
    ------
    InputError
        Missing folder or no TIFF frames, a file name that is no SonoNet label,
        an unreadable frame, or a frame smaller than the authors' crop.
    """
    from sonomtl.data.importers.hc18 import _copy_file
    from sonomtl.data.io import open_image
    from sonomtl.data.manifest import DatasetSpec, write_dataset

    src, out = Path(src), Path(out)
    folder = src / "example_images" if (src / "example_images").is_dir() else src
    if not folder.is_dir():
        raise InputError("SonoNet example folder not found", file=src)
    frames = sorted(p for p in folder.iterdir() if p.suffix.lower() in (".tif", ".tiff"))
    if not frames:
        raise InputError("no .tiff frames found", file=folder)
    rows, needed_wh = [], (SONONET_CROP_RC[3], SONONET_CROP_RC[1])
    for path in frames:
        label = label_from_filename(path.name)
        if label is None:
            raise InputError(f"file name is not a SonoNet label (expected one of "
                             f"{sorted(set(_FILE_LABELS))})", file=path, field="label")
        try:
            with open_image(path) as handle:
                width, height = handle.size
        except OSError as error:
            raise InputError(f"cannot read the frame: {error}", file=path) from None
        if width < needed_wh[0] or height < needed_wh[1]:
            raise InputError(f"frame is {width}x{height}; the authors' crop needs at least "
                             f"{needed_wh[0]}x{needed_wh[1]} (width x height)", file=path)
        rows.append({"image": f"images/{path.name}", "subject": f"sononet_{path.stem}",
                     "label": label})
    counts: dict[str, int] = {}
    for row in rows:
        counts[row["label"]] = counts.get(row["label"], 0) + 1
    spec = DatasetSpec(
        name="sononet-examples",
        description="The labelled example frames of SonoNet (Baumgartner et al., IEEE TMI "
                    "2017; SonoNet-weights repository, Apache-2.0).",
        classes=SONONET_LABELS,
        input_size=SONONET_INPUT_HW,
        crop=SONONET_CROP_RC,
        metadata={
            "source": "SonoNet-weights example_images",
            "license": "Apache-2.0",
            "importer": "sonomtl.data.importers.sononet_examples",
            "grey": "mean of the RGB channels",
            "normalisation": "sononet",
        },
    )
    for path in frames:
        _copy_file(path, out / "images" / path.name)
    write_dataset(out, spec, rows)
    return {
        "n_images": len(rows),
        "labels": counts,
        "classes_without_images": [c for c in SONONET_LABELS if c not in counts],
        "out": str(out),
    }

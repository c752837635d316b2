"""The PyTorch dataset: one manifest row -> one dict sample of tensors, and their collate.

Per sample: read the frame (:func:`sonomtl.data.io.read_frame`), set overlay
rectangles (and, optionally, pixels that stay constant over the sequence) to
0, crop / resize or resample + pad as ``dataset.yaml`` asks
(:func:`sonomtl.data.preprocess.plan_preprocessing`), augment image,
attention map and landmarks with one random draw, draw Gaussian heat maps at
the moved landmarks, normalise the intensity. The random draw depends only on
``(seed, epoch, index)``, so results do not depend on the number of workers.

Sample keys
-----------
``image`` (1, H, W) float32; ``label`` int64 (-1 unlabelled); ``attention``
(1, H, W) float32 when the row has a map; ``fixation_map`` (1, H, W) float32,
1 at the pixels of the row's gaze fixations (``fixations`` column) after the
same geometry and augmentation as the frame, 0 elsewhere, when the row has
fixation data (collated with ``has_fixations``); ``landmarks`` (L, 2) float32 in
model-input pixels (NaN absent); ``landmark_mask`` (L,) bool; ``heatmaps``
(L, H, W) float32 when the spec has landmarks; ``spacing_mm`` (2,) float32 of
the model-input pixels (NaN unknown); ``subject``, ``sequence`` str;
``index`` int64 (position in the manifest's records); ``row`` int64 (manifest
row); ``geometry`` (the preprocessing pipeline's ``to_dict()``: map model
outputs back with ``Pipeline.from_dict(geometry).invert_points``).

Attention maps (``attention`` column) come in one of two geometries: a map of
the dataset's ``input_size`` is already in model-input space (what ``sonomtl
gaze maps`` writes: the paper draws fixations after crop and resize), so only
what follows the dataset's preprocessing (a resize to ``input_hw``, the
augmentation) is applied to it; a map of the frame's own size goes through the
same crop / resize / resampling as the frame. Any other size is an
:class:`~sonomtl.errors.InputError` naming the row. A frame whose size equals
``input_size`` is read the first way.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from sonomtl.data.manifest import DatasetSpec, FrameRecord, load_dataset
from sonomtl.errors import InputError

__all__ = [
    "NORMALISE_METHODS",
    "OPTIONAL_FIELDS",
    "UltrasoundDataset",
    "PRESENCE_KEYS",
    "collate_samples",
    "default_heatmap_sigma_px",
    "fixation_map_from_points",
    "make_augment",
]

NORMALISE_METHODS = ("zscore", "sononet", "minmax", None)

#: Fields that some samples have and others lack; the collate always adds their presence key.
OPTIONAL_FIELDS = ("attention", "fixation_map")
#: The presence flag the collate adds for a field (default ``has_<field>``).
PRESENCE_KEYS = {"fixation_map": "has_fixations"}

_STATIC_MASK_FRAMES = 16


def default_heatmap_sigma_px(input_hw: Sequence[int]) -> float:
    """Heat-map sigma when none is given: 2 % of the shorter model-input side (>= 1 px)."""
    return max(1.0, 0.02 * min(int(v) for v in input_hw))


def fixation_map_from_points(points_xy: np.ndarray, *, hw: Sequence[int]) -> np.ndarray:
    """Binary ``(H, W)`` float32 map: 1 at the pixel nearest each ``(x, y)`` point.

    A point ``(x, y)`` marks row ``floor(y + 0.5)``, column ``floor(x + 0.5)``
    (the pixel whose centre is nearest); points off the map or non-finite are
    ignored.

    Examples
    --------
    >>> fixation_map_from_points(np.array([[1.4, 0.6], [9.0, 0.0]]), hw=(2, 3)).tolist()
    [[0.0, 0.0, 0.0], [0.0, 1.0, 0.0]]
    """
    rows, cols = (int(v) for v in hw)
    out = np.zeros((rows, cols), dtype=np.float32)
    points = np.asarray(points_xy, dtype=np.float64).reshape(-1, 2)
    with np.errstate(invalid="ignore"):
        col = np.floor(points[:, 0] + 0.5)
        row = np.floor(points[:, 1] + 0.5)
        inside = (col >= 0) & (col < cols) & (row >= 0) & (row < rows)
    out[row[inside].astype(np.int64), col[inside].astype(np.int64)] = 1.0
    return out


def make_augment(spec: DatasetSpec, **params: float) -> Any:
    """A :class:`~sonomtl.data.augment.RandJointAugment` with the spec's ``flip_pairs``.

    ``params`` are its keyword arguments (``flip_prob``, ``rotate_deg``,
    ``brightness``, ``contrast``, ``speckle_std``).
    """
    from sonomtl.data.augment import RandJointAugment

    pairs = tuple((spec.landmark_index(a), spec.landmark_index(b)) for a, b in spec.flip_pairs)
    return RandJointAugment(flip_pairs=pairs, **params)


class UltrasoundDataset:
    """Frames of a dataset folder as dict samples (a map-style ``torch`` dataset).

    Parameters
    ----------
    folder_or_loaded
        A dataset folder, or ``(folder, spec, records)`` already loaded (file
        paths are relative to ``folder``).
    indices
        Positions in the records to serve (a split); default all.
    augment
        ``callable(sample_of_numpy_arrays, rng) -> sample`` such as
        :func:`make_augment`; ``None`` for none (evaluation). Fixation points
        travel through it appended to ``landmarks`` (and ``landmark_mask``), so
        they move exactly like landmarks.
    input_hw
        Model input size (rows, cols); default the dataset's ``input_size``.
        When different, frames are preprocessed to ``input_size`` and then
        resized (area averaging) to ``input_hw``; maps, landmarks and fixations
        follow, and ``geometry`` includes that last resize.
    heatmap_sigma_px, heatmap_sigma_mm
        Gaussian sigma of the heat maps in model-input pixels, or in mm
        (needs the pixel size). Default :func:`default_heatmap_sigma_px`.
    normalise
        ``"zscore"``, ``"sononet"`` (``255 * (x - mean) / std``), ``"minmax"``
        or ``None`` (grey levels in [0, 255]).
    mask_overlays
        ``True``: set ``dataset.yaml``'s ``mask_rects`` to 0; ``"static"``:
        also the pixels that stay constant over the frames of the row's
        sequence (icons, text; estimated from up to 16 of its frames);
        ``False``: neither.
    cache_decoded
        Keep each preprocessed (not augmented) frame in memory after first use
        (per worker process): fast epochs for small datasets.
    seed
        Seed of the augmentation draws (with :meth:`set_epoch` and the index).
    """

    def __init__(
        self,
        folder_or_loaded: str | os.PathLike[str] | tuple[Any, DatasetSpec, Sequence[FrameRecord]],
        *,
        indices: Sequence[int] | np.ndarray | None = None,
        augment: Callable[[dict[str, Any], np.random.Generator], dict[str, Any]] | None = None,
        input_hw: Sequence[int] | None = None,
        heatmap_sigma_px: float | None = None,
        heatmap_sigma_mm: float | None = None,
        normalise: str | None = "zscore",
        mask_overlays: bool | str = True,
        cache_decoded: bool = False,
        seed: int = 0,
    ) -> None:
        if isinstance(folder_or_loaded, tuple):
            if len(folder_or_loaded) != 3 or not isinstance(folder_or_loaded[1], DatasetSpec):
                raise TypeError("folder_or_loaded: expected a folder or (folder, spec, records)")
            folder, spec, records = folder_or_loaded
            self.root, self.spec, self.records = Path(folder), spec, list(records)
        else:
            self.root = Path(folder_or_loaded)
            self.spec, self.records = load_dataset(self.root)
        n = len(self.records)
        if indices is None:
            self.indices = np.arange(n, dtype=np.int64)
        else:
            self.indices = np.asarray(indices, dtype=np.int64).reshape(-1)
            if self.indices.size and (self.indices.min() < 0 or self.indices.max() >= n):
                raise ValueError(f"indices: expected positions in 0..{n - 1}, got "
                                 f"{self.indices.min()}..{self.indices.max()}")
        if normalise not in NORMALISE_METHODS:
            raise ValueError(f"normalise: expected one of {NORMALISE_METHODS}, got {normalise!r}")
        if mask_overlays not in (True, False, "static"):
            raise ValueError(f"mask_overlays: expected True, False or 'static', got "
                             f"{mask_overlays!r}")
        if heatmap_sigma_px is not None and heatmap_sigma_mm is not None:
            raise ValueError("give heatmap_sigma_px or heatmap_sigma_mm, not both")
        for name, value in (("heatmap_sigma_px", heatmap_sigma_px),
                            ("heatmap_sigma_mm", heatmap_sigma_mm)):
            if value is not None and not (np.isfinite(value) and value > 0):
                raise ValueError(f"{name}: expected a positive number, got {value!r}")
        self.input_hw = tuple(int(v) for v in self.spec.input_size)
        if input_hw is not None:
            values = tuple(input_hw)
            if len(values) != 2 or not all(isinstance(v, (int, np.integer)) and v >= 1
                                           for v in values):
                raise ValueError(f"input_hw: expected (rows, cols) of positive integers, got "
                                 f"{input_hw!r}")
            self.input_hw = (int(values[0]), int(values[1]))
        self.augment = augment
        self.heatmap_sigma_px = heatmap_sigma_px
        self.heatmap_sigma_mm = heatmap_sigma_mm
        self.normalise = normalise
        self.mask_overlays = mask_overlays
        self.cache_decoded = bool(cache_decoded)
        self.seed = int(seed)
        self.epoch = 0
        self._cache: dict[int, dict[str, Any]] = {}
        self._static_masks: dict[str, np.ndarray | None] = {}

    def __len__(self) -> int:
        return int(self.indices.size)

    def set_epoch(self, epoch: int) -> None:
        """Change the augmentation draws (call before each epoch's DataLoader pass)."""
        self.epoch = int(epoch)

    @property
    def labels(self) -> np.ndarray:
        """Class ids of the served samples (-1 unlabelled), e.g. for a balanced sampler."""
        return np.array([self._label(self.records[i]) for i in self.indices], dtype=np.int64)

    def _label(self, record: FrameRecord) -> int:
        return -1 if record.label is None else self.spec.class_index(record.label)

    # -- one sample --------------------------------------------------------------------
    def __getitem__(self, position: int) -> dict[str, Any]:
        import torch

        if not -len(self) <= position < len(self):
            raise IndexError(f"position {position} out of range for {len(self)} samples")
        index = int(self.indices[position])
        record = self.records[index]
        base = self._cache.get(index)
        if base is None:
            base = self._preprocess(record)
            if self.cache_decoded:
                self._cache[index] = base
        sample = {k: base[k] for k in ("image", "attention", "landmarks", "landmark_mask")
                  if base.get(k) is not None}
        fixations = base.get("fixations")
        if self.augment is not None:
            rng = np.random.default_rng([self.seed, self.epoch, index])
            n_landmarks = len(sample["landmarks"])
            if fixations is not None and len(fixations):
                # fixations ride along as extra landmarks: moved (and dropped) the same way
                sample["landmarks"] = np.concatenate([sample["landmarks"],
                                                      fixations.astype(np.float32)])
                sample["landmark_mask"] = np.concatenate(
                    [sample["landmark_mask"], np.ones(len(fixations), dtype=bool)])
            sample = self.augment(dict(sample), rng)
            if fixations is not None and len(fixations):
                moved = np.asarray(sample["landmarks"][n_landmarks:], dtype=np.float64)
                fixations = moved[np.isfinite(moved).all(axis=1)]
                sample["landmarks"] = sample["landmarks"][:n_landmarks]
                sample["landmark_mask"] = sample["landmark_mask"][:n_landmarks]
        image = np.asarray(sample["image"], dtype=np.float32)
        if self.normalise is not None:
            from sonomtl.data.preprocess import normalise

            image = normalise(image, self.normalise)
        points = np.asarray(sample["landmarks"], dtype=np.float32)
        mask = np.asarray(sample["landmark_mask"], dtype=bool) & np.isfinite(points).all(axis=1)
        points[~mask] = np.nan
        out: dict[str, Any] = {
            "image": torch.from_numpy(np.ascontiguousarray(image)[None]),
            "label": torch.tensor(self._label(record), dtype=torch.int64),
            "landmarks": torch.from_numpy(points),
            "landmark_mask": torch.from_numpy(mask),
            "spacing_mm": torch.tensor(base["spacing_mm"], dtype=torch.float32),
            "subject": record.subject,
            "sequence": record.sequence or "",
            "index": torch.tensor(index, dtype=torch.int64),
            "row": torch.tensor(record.row, dtype=torch.int64),
            "geometry": base["geometry"],
        }
        if sample.get("attention") is not None:
            attention = np.ascontiguousarray(sample["attention"], dtype=np.float32)
            out["attention"] = torch.from_numpy(attention[None])
        if fixations is not None:
            out["fixation_map"] = torch.from_numpy(
                fixation_map_from_points(fixations, hw=image.shape)[None])
        if self.spec.landmarks:
            out["heatmaps"] = torch.from_numpy(self._heatmaps(points, mask, image.shape,
                                                              base["spacing_mm"]))
        return out

    def _heatmaps(self, points: np.ndarray, mask: np.ndarray, hw: tuple[int, ...],
                  spacing_mm: tuple[float, float]) -> np.ndarray:
        from sonomtl.data.heatmaps import landmarks_to_heatmaps, sigma_px_from_mm

        if self.heatmap_sigma_mm is not None:
            if not np.all(np.isfinite(spacing_mm)):
                raise InputError("heat-map sigma in mm needs the pixel size",
                                 field="spacing_mm")
            sigma = sigma_px_from_mm(self.heatmap_sigma_mm, tuple(spacing_mm))
        elif self.heatmap_sigma_px is not None:
            sigma = self.heatmap_sigma_px
        else:
            sigma = default_heatmap_sigma_px(self.input_hw)
        return landmarks_to_heatmaps(points, hw=(hw[0], hw[1]), sigma_px=sigma, mask=mask)

    def _preprocess(self, record: FrameRecord) -> dict[str, Any]:
        """Read + mask + geometry of one row (the deterministic, cacheable part)."""
        from sonomtl.data.io import read_attention, read_frame
        from sonomtl.data.preprocess import (
            Pipeline,
            Resize,
            auto_sector_box,
            mask_rectangles,
            plan_preprocessing,
        )

        spec = self.spec
        image, spacing = read_frame(self.root, record)
        if self.mask_overlays and spec.mask_rects:
            image = mask_rectangles(image, spec.mask_rects)
        if self.mask_overlays == "static":
            static = self._static_mask(record, image.shape)
            if static is not None:
                image = np.where(static, np.float32(0), image)
        crop = auto_sector_box(image) if spec.crop == "auto" else spec.crop
        if spec.target_spacing_mm is not None and spacing is None:
            raise InputError("pixel size unknown: resampling to target_spacing_mm needs "
                             "spacing_mm in the manifest (or a calibrated DICOM)",
                             file=self.root / "manifest.csv", row=record.row, field="spacing_mm")
        try:
            pipeline = plan_preprocessing(image.shape, input_hw=spec.input_size, crop_box_rc=crop,
                                          spacing_mm=spacing,
                                          target_spacing_mm=spec.target_spacing_mm)
        except ValueError as error:
            shown = list(crop) if isinstance(crop, tuple) else crop
            raise InputError(f"frame is {image.shape[1]}x{image.shape[0]} (width x height); "
                             f"dataset.yaml crop {shown} and input_size {list(spec.input_size)} "
                             f"do not fit it: {error}", file=self.root / record.source,
                             row=record.row,
                             field="image" if record.image is not None else "video") from None
        dataset_ops = len(pipeline.ops)
        if pipeline.output_hw != self.input_hw:
            pipeline = Pipeline(pipeline.ops + (Resize(pipeline.output_hw, self.input_hw),))
        n_landmarks = len(spec.landmarks)
        points = np.full((n_landmarks, 2), np.nan)
        for name, xy in record.landmarks.items():
            points[spec.landmark_index(name)] = xy
        moved = pipeline.apply_points(points) if n_landmarks else points
        rows, cols = pipeline.output_hw
        with np.errstate(invalid="ignore"):
            inside = ((moved[:, 0] >= -0.5) & (moved[:, 0] <= cols - 0.5)
                      & (moved[:, 1] >= -0.5) & (moved[:, 1] <= rows - 0.5))
        moved[~inside] = np.nan  # cropped away: absent in the model input
        attention = None
        if record.attention is not None:
            attention = read_attention(self.root / record.attention)
            attention = _map_to_input(attention, pipeline, dataset_ops=dataset_ops,
                                      frame_hw=image.shape[:2], record=record, root=self.root)
        fixations = None
        if record.fixations is not None:
            moved_fix = pipeline.apply_points(np.asarray(record.fixations,
                                                         dtype=np.float64).reshape(-1, 2))
            fixations = moved_fix[_on_grid(moved_fix, rows, cols)]
        return {
            # "area" averages when shrinking (no aliasing of thin echoes), linear when enlarging.
            "image": pipeline.apply_image(image, interpolation="area").astype(np.float32,
                                                                              copy=False),
            "attention": None if attention is None else attention.astype(np.float32, copy=False),
            "fixations": fixations,
            "landmarks": moved.astype(np.float32),
            "landmark_mask": inside,
            "spacing_mm": (np.nan, np.nan) if spacing is None else
            pipeline.output_spacing_mm(spacing),
            "geometry": pipeline.to_dict(),
        }

    def _static_mask(self, record: FrameRecord, hw: tuple[int, ...]) -> np.ndarray | None:
        """Pixels constant over (up to 16 frames of) the record's sequence; cached."""
        from sonomtl.data.io import read_frame
        from sonomtl.data.preprocess import static_overlay_mask

        key = record.sequence or record.video
        if key is None:
            return None
        if key not in self._static_masks:
            members = [r for r in self.records
                       if (r.sequence or r.video) == key]
            picks = np.unique(np.linspace(0, len(members) - 1,
                                          min(len(members), _STATIC_MASK_FRAMES)).astype(int))
            frames = [read_frame(self.root, members[i])[0] for i in picks]
            same_size = all(f.shape == frames[0].shape for f in frames)
            self._static_masks[key] = (static_overlay_mask(np.stack(frames))
                                       if len(frames) >= 2 and same_size else None)
        mask = self._static_masks[key]
        return mask if mask is not None and mask.shape == tuple(hw) else None


def _on_grid(points: np.ndarray, rows: int, cols: int) -> np.ndarray:
    """Points whose nearest pixel centre lies on a ``rows x cols`` grid."""
    with np.errstate(invalid="ignore"):
        col = np.floor(points[:, 0] + 0.5)
        row = np.floor(points[:, 1] + 0.5)
        return (col >= 0) & (col < cols) & (row >= 0) & (row < rows)


def _map_to_input(attention: np.ndarray, pipeline: Any, *, dataset_ops: int,
                  frame_hw: tuple[int, ...], record: FrameRecord, root: Path) -> np.ndarray:
    """An attention map in model-input space (see the module docstring for the contract)."""
    from sonomtl.data.preprocess import Pipeline

    dataset_hw = pipeline.ops[dataset_ops - 1].output_hw
    if attention.shape == tuple(dataset_hw):  # already at the dataset's input size
        if dataset_ops == len(pipeline.ops):
            return attention
        return Pipeline(pipeline.ops[dataset_ops:]).apply_image(attention, interpolation="area")
    if attention.shape == tuple(frame_hw):  # on the frame's grid: the frame's preprocessing
        return pipeline.apply_image(attention, interpolation="area")
    rows, cols = attention.shape
    raise InputError(f"attention map is {cols}x{rows}; expected the dataset's input size "
                     f"{dataset_hw[1]}x{dataset_hw[0]} (model-input space) or the frame's size "
                     f"{frame_hw[1]}x{frame_hw[0]}", file=root / "manifest.csv", row=record.row,
                     field="attention")


# --------------------------------------------------------------------------- collate


def collate_samples(samples: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Batch dict samples; fields missing (or ``None``) in some samples are filled.

    Tensors are stacked; where a tensor field is missing in some samples (and
    always for :data:`OPTIONAL_FIELDS`), the gaps are filled (NaN for float
    landmarks, 0 otherwise) and a presence flag, a bool tensor ``(B,)``, is
    added: ``has_<field>``, or :data:`PRESENCE_KEYS` (``fixation_map`` ->
    ``has_fixations``).
    Strings, dicts and other values become lists (``None`` where missing);
    Python numbers become tensors.

    Examples
    --------
    >>> import torch
    >>> batch = collate_samples([{"image": torch.zeros(1, 2, 2), "attention": torch.ones(1, 2, 2),
    ...                           "subject": "a"}, {"image": torch.ones(1, 2, 2), "subject": "b"}])
    >>> batch["image"].shape, batch["has_attention"].tolist(), batch["subject"]
    (torch.Size([2, 1, 2, 2]), [True, False], ['a', 'b'])
    >>> float(batch["attention"][1].sum())
    0.0
    """
    import torch
    from torch.utils.data import default_collate

    if not samples:
        raise ValueError("samples: expected at least one sample")
    keys: list[str] = []
    for sample in samples:
        for key in sample:
            if key not in keys:
                keys.append(key)
    batch: dict[str, Any] = {}
    for key in keys:
        values = [sample.get(key) for sample in samples]
        present = [v is not None for v in values]
        example = next(v for v in values if v is not None) if any(present) else None
        if isinstance(example, torch.Tensor):
            for v in values:
                if v is not None and v.shape != example.shape:
                    raise ValueError(f"samples: field {key!r} has shapes {tuple(example.shape)} "
                                     f"and {tuple(v.shape)}; resize to one input size")
            fill = (torch.full_like(example, float("nan"))
                    if key == "landmarks" and example.is_floating_point()
                    else torch.zeros_like(example))
            # default_collate stacks straight into shared memory inside DataLoader workers.
            batch[key] = default_collate([v if v is not None else fill for v in values])
            if not all(present) or key in OPTIONAL_FIELDS:
                batch[PRESENCE_KEYS.get(key, f"has_{key}")] = torch.tensor(present,
                                                                          dtype=torch.bool)
        elif isinstance(example, (bool, int, float)) and all(present):
            batch[key] = torch.tensor(values)
        else:
            batch[key] = values
    return batch

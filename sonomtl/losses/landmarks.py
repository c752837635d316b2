"""Landmark heat-map losses of the abdominal network (paper 004, eqs. 2 and 3).

* :func:`selective_l2_loss` (eq. 2): squared error between predicted and true
  heat maps over only the landmark channels annotated on each image's view,
  normalised by ``N_I * N_L'`` (pixels x selected channels) per image. The other
  channels receive exactly zero gradient.
* :func:`coordinate_loss` (eq. 3): Euclidean distance in pixels between the
  predicted positions and the true landmarks, averaged over the selected
  landmarks. A position is the heat-map-weighted mean of the pixel coordinates
  whose value exceeds ``threshold`` (:func:`soft_coordinates`,
  differentiable); a map with no pixel above it takes its arg-max pixel, a
  constant, so its distance counts in the loss value but gives no gradient.

Shapes: heat maps ``(B, L, H, W)``, landmark mask ``(B, L)`` bool, points
``(B, L, 2)`` as ``(x, y)`` in heat-map pixels (x = column, y = row; the centre of
pixel ``[r, c]`` is ``(c, r)``, docs/data-format.md). Absent landmarks may be
``NaN`` in the targets: only masked-in entries are read.

Batch reduction: ``reduction="mean"`` averages the per-image losses over the
images that have at least one selected landmark (``0`` with a graph attached when
none has); ``"none"`` returns the ``(B,)`` per-image losses, ``0`` for images
without selected landmarks.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

__all__ = [
    "soft_coordinates",
    "selective_l2_loss", "coordinate_loss", "match_interchangeable_pairs", "COORDINATE_THRESHOLD",
]

#: The paper's threshold ``k`` on predicted heat maps for the coordinate loss.
COORDINATE_THRESHOLD = 0.75


def _check_mask(landmark_mask: torch.Tensor, batch: int, landmarks: int) -> None:
    if not isinstance(landmark_mask, torch.Tensor) or landmark_mask.dtype != torch.bool:
        raise TypeError(
            "landmark_mask must be a bool tensor of shape (B, L), got "
            f"{getattr(landmark_mask, 'dtype', type(landmark_mask).__name__)}"
        )
    if tuple(landmark_mask.shape) != (batch, landmarks):
        raise ValueError(
            f"landmark_mask must have shape (B, L) = ({batch}, {landmarks}), "
            f"got {tuple(landmark_mask.shape)}"
        )


def _check_heatmaps(heatmaps: torch.Tensor, name: str) -> None:
    if not isinstance(heatmaps, torch.Tensor) or heatmaps.ndim != 4:
        is_tensor = isinstance(heatmaps, torch.Tensor)
        got = tuple(heatmaps.shape) if is_tensor else type(heatmaps).__name__
        raise ValueError(f"{name} must be a tensor of shape (B, L, H, W), got {got}")
    if not heatmaps.is_floating_point():
        raise TypeError(f"{name} must be a floating-point tensor, got {heatmaps.dtype}")


def _reduce(per_image: torch.Tensor, has_any: torch.Tensor, reduction: str) -> torch.Tensor:
    if reduction == "none":
        return per_image
    count = has_any.sum()
    # per_image is 0 (with a graph) for images without selected landmarks.
    return per_image.sum() / count.clamp(min=1).to(per_image.dtype)


def _check_reduction(reduction: str) -> None:
    if reduction not in ("mean", "none"):
        raise ValueError(f"reduction must be 'mean' or 'none', got {reduction!r}")


def selective_l2_loss(
    pred: torch.Tensor,
    target: torch.Tensor,
    *,
    landmark_mask: torch.Tensor,
    reduction: str = "mean",
) -> torch.Tensor:
    """Eq. 2: ``1 / (N_I N_L') * sum_i sum_{l in L'} (pred_li - target_li)^2`` per image.

    Parameters
    ----------
    pred, target:
        Predicted and true heat maps ``(B, L, H, W)``; ``target`` may hold NaN in
        channels that ``landmark_mask`` leaves out.
    landmark_mask:
        ``(B, L)`` bool: the landmarks annotated on each image's view (``L'``).
    reduction:
        ``"mean"`` over images with at least one selected landmark, or ``"none"``.

    Returns
    -------
    torch.Tensor
        Scalar, or ``(B,)`` with ``reduction="none"``.

    Examples
    --------
    >>> pred = torch.zeros(1, 2, 2, 2)
    >>> target = torch.ones(1, 2, 2, 2)
    >>> target[0, 1] = 5.0  # channel 1 is not on this view: ignored
    >>> float(selective_l2_loss(pred, target, landmark_mask=torch.tensor([[True, False]])))
    1.0
    """
    _check_heatmaps(pred, "pred")
    if target.shape != pred.shape:
        raise ValueError(
            f"target must have the shape of pred {tuple(pred.shape)}, got {tuple(target.shape)}"
        )
    _check_reduction(reduction)
    batch, landmarks, height, width = pred.shape
    _check_mask(landmark_mask, batch, landmarks)
    selected = landmark_mask[:, :, None, None].to(pred.device)
    # Clean the target first, so that NaN outside the selection cannot reach the gradient.
    clean_target = torch.where(
        selected, target, torch.zeros((), dtype=target.dtype, device=target.device)
    )
    squared = torch.where(
        selected, (pred - clean_target) ** 2, torch.zeros((), dtype=pred.dtype, device=pred.device)
    )
    selected_count = landmark_mask.sum(dim=1).to(pred.device)
    per_image = squared.sum(dim=(1, 2, 3)) / (selected_count.clamp(min=1) * (height * width)).to(
        pred.dtype
    )
    return _reduce(per_image, selected_count > 0, reduction)


def coordinate_loss(
    heatmaps: torch.Tensor,
    target_points: torch.Tensor,
    *,
    landmark_mask: torch.Tensor,
    threshold: float = COORDINATE_THRESHOLD,
    reduction: str = "mean",
) -> torch.Tensor:
    """Eq. 3: mean Euclidean distance (pixels) between soft coordinates and the true points.

    Per image ``1 / N_L' * sum_{l in L'} ||p_l - p_hat_l||``, with ``p_hat`` from
    :func:`soft_coordinates`. A selected channel with no
    pixel above ``threshold`` takes its arg-max position: its distance is counted
    (the loss value stays the mean landmark error) but gives no gradient.

    Parameters
    ----------
    heatmaps:
        Predicted heat maps ``(B, L, H, W)``.
    target_points:
        True positions ``(B, L, 2)`` as ``(x, y)`` in heat-map pixels (NaN allowed
        where ``landmark_mask`` is ``False``).
    landmark_mask:
        ``(B, L)`` bool, the landmarks annotated on each image's view.
    threshold:
        ``k``, on maps whose true peaks are 1 (paper: 0.75).
    reduction:
        ``"mean"`` over images with at least one selected landmark, or ``"none"``.

    Returns
    -------
    torch.Tensor
        Scalar in pixels, or ``(B,)`` with ``reduction="none"``.
    """
    _check_heatmaps(heatmaps, "heatmaps")
    _check_reduction(reduction)
    batch, landmarks = heatmaps.shape[:2]
    if tuple(target_points.shape) != (batch, landmarks, 2):
        raise ValueError(
            f"target_points must have shape (B, L, 2) = ({batch}, {landmarks}, 2), "
            f"got {tuple(target_points.shape)}"
        )
    _check_mask(landmark_mask, batch, landmarks)
    points = soft_coordinates(heatmaps, threshold=threshold)
    selected = landmark_mask.to(heatmaps.device)
    zero = torch.zeros((), dtype=points.dtype, device=points.device)
    clean_target = torch.where(selected[..., None], target_points.to(points.dtype), zero)
    offset = torch.where(selected[..., None], points - clean_target, zero)
    # vector_norm's gradient at a zero offset is 0 (a subgradient), not NaN.
    distance = torch.linalg.vector_norm(offset, dim=-1)
    selected_count = selected.sum(dim=1)
    per_image = distance.sum(dim=1) / selected_count.clamp(min=1).to(points.dtype)
    return _reduce(per_image, selected_count > 0, reduction)


def match_interchangeable_pairs(
    heatmaps: torch.Tensor,
    target_heatmaps: torch.Tensor,
    target_points: torch.Tensor,
    landmark_mask: torch.Tensor,
    pairs: Sequence[tuple[int, int]],
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Targets with each interchangeable pair put in the order the prediction chose.

    Some landmark pairs are ordered by a naming rule, not by anatomy: the two
    ends of a skull axis (HC18's ``ofd_1`` is the end with the smaller x). The
    rule flips for an axis near vertical, so similar frames get swapped targets.
    Per image and pair ``(i, j)``, the targets of ``i`` and ``j`` (maps, points,
    mask) are swapped where the predicted maps are closer (summed squared
    error of the two channels) to the swapped order; ties keep the order. The
    choice is made without gradient; the losses then use the matched targets.

    Parameters
    ----------
    heatmaps
        Predicted maps ``(B, L, H, W)``.
    target_heatmaps, target_points, landmark_mask
        ``(B, L, H, W)``, ``(B, L, 2)``, ``(B, L)``.
    pairs
        Channel index pairs.

    Returns
    -------
    tuple
        New ``(target_heatmaps, target_points, landmark_mask)``.

    Examples
    --------
    >>> pred = torch.zeros(1, 2, 1, 2); pred[0, 0, 0, 1] = pred[0, 1, 0, 0] = 1.0
    >>> maps = torch.zeros(1, 2, 1, 2); maps[0, 0, 0, 0] = maps[0, 1, 0, 1] = 1.0
    >>> points = torch.tensor([[[0.0, 0.0], [1.0, 0.0]]])
    >>> mask = torch.ones(1, 2, dtype=torch.bool)
    >>> _, matched, _ = match_interchangeable_pairs(pred, maps, points, mask, [(0, 1)])
    >>> matched.tolist()
    [[[1.0, 0.0], [0.0, 0.0]]]
    """
    _check_heatmaps(heatmaps, "heatmaps")
    if heatmaps.shape != target_heatmaps.shape:
        raise ValueError(f"heatmaps and target_heatmaps differ in shape: "
                         f"{tuple(heatmaps.shape)} vs {tuple(target_heatmaps.shape)}")
    maps, points, mask = target_heatmaps.clone(), target_points.clone(), landmark_mask.clone()
    with torch.no_grad():
        pred = heatmaps.detach().float()
        for i, j in pairs:
            ti, tj = maps[:, i].float(), maps[:, j].float()
            keep = ((pred[:, i] - ti) ** 2 + (pred[:, j] - tj) ** 2).flatten(1).sum(1)
            swap = ((pred[:, i] - tj) ** 2 + (pred[:, j] - ti) ** 2).flatten(1).sum(1)
            swapped = swap < keep
            s_map, s_point, s_mask = swapped[:, None, None], swapped[:, None], swapped
            maps[:, i], maps[:, j] = (torch.where(s_map, maps[:, j], maps[:, i]),
                                      torch.where(s_map, maps[:, i], maps[:, j]))
            points[:, i], points[:, j] = (torch.where(s_point, points[:, j], points[:, i]),
                                          torch.where(s_point, points[:, i], points[:, j]))
            mask[:, i], mask[:, j] = (torch.where(s_mask, mask[:, j], mask[:, i]),
                                      torch.where(s_mask, mask[:, i], mask[:, j]))
    return maps, points, mask


def soft_coordinates(heatmaps: torch.Tensor, *, threshold: float) -> torch.Tensor:
    """Differentiable landmark coordinates ``(B, L, 2)`` (x, y) from heat maps ``(B, L, H, W)``.

    Paper 2's coordinate constraint: ``x = sum_{i in O} H_i S_i / sum_{i in O} H_i``
    over ``O = {i : H_i > threshold}``, so ``dx / dH_i = (S_i - x) / sum_{O} H``
    for ``i`` in ``O`` and 0 elsewhere (the set ``O`` itself is not differentiated).

    When no pixel of a map exceeds the threshold (early in training), that
    map's coordinate is its argmax pixel, which is a constant: the coordinate
    loss then gives no gradient to that map and the heat-map loss drives it.
    The result is always finite.
    """
    import torch

    if not isinstance(heatmaps, torch.Tensor) or heatmaps.ndim != 4:
        shape = tuple(heatmaps.shape) if hasattr(heatmaps, "shape") else type(heatmaps).__name__
        raise ValueError(f"heatmaps must be a torch.Tensor of shape (B, L, H, W), got {shape}")
    if not math.isfinite(float(threshold)):
        raise ValueError(f"threshold must be finite, got {threshold!r}")
    _, _, rows, cols = heatmaps.shape
    dtype = heatmaps.dtype if heatmaps.is_floating_point() else torch.float32
    maps = heatmaps.to(dtype)
    above = maps > threshold
    weights = torch.where(above, maps, torch.zeros_like(maps))
    total = weights.sum(dim=(-2, -1))
    xs = torch.arange(cols, dtype=dtype, device=maps.device)
    ys = torch.arange(rows, dtype=dtype, device=maps.device)
    x_sum = (weights.sum(dim=-2) * xs).sum(dim=-1)
    y_sum = (weights.sum(dim=-1) * ys).sum(dim=-1)
    valid = above.any(dim=-1).any(dim=-1) & (total != 0)
    safe_total = torch.where(valid, total, torch.ones_like(total))
    soft = torch.stack([x_sum / safe_total, y_sum / safe_total], dim=-1)
    index = maps.detach().flatten(-2).argmax(dim=-1)
    hard = torch.stack([(index % cols).to(dtype), (index // cols).to(dtype)], dim=-1)
    return torch.where(valid[..., None], soft, hard)

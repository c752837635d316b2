"""B-mode image formation: from a tissue map to a scan-converted grey frame.

The model is the usual one for simulated speckle (e.g. Field II-style
"scatterer + point-spread function" images, reduced to a fast 2D form):

1. A **tissue label map** is drawn on the screen canvas (one ``uint8`` label
   per pixel, see :mod:`sonomtl.data.synthetic.tissues`).
2. It is sampled onto the **beam grid** (depth samples x scan lines) of the
   probe: a convex/sector geometry (beams fanning out from a virtual apex) or
   a linear one (parallel beams).
3. In beam space each sample gets a complex Gaussian **scatterer** amplitude
   scaled by the tissue's backscatter and a smooth echotexture field; strong
   interfaces add a coherent (non-random) **specular** echo.
4. The field is convolved with a separable baseband **point-spread
   function** (Gaussian, narrower axially than laterally); its magnitude is
   the **envelope**, Rayleigh-distributed in fully developed speckle.
5. The round-trip **attenuation** is integrated along every beam
   (``exp``-like decay with depth; bone stops nearly everything, giving an
   acoustic shadow; fluid attenuates little, giving posterior enhancement);
   a **time-gain compensation** curve undoes the decay of average soft
   tissue.
6. The envelope is **log-compressed** to a dynamic range in dB and
   **scan-converted** back to the canvas with precomputed ``cv2.remap``
   maps; everything outside the field of view stays black.

All maps that depend only on the geometry are computed once per
:class:`Scanner`, so a frame costs a handful of vectorised passes over a
beam grid of some 10^4-10^5 samples.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import cv2
import numpy as np

__all__ = ["ScanGeometry", "CanvasLayout", "Scanner", "RAYLEIGH_MEAN_TO_STD"]

#: mean / std of a Rayleigh-distributed envelope (fully developed speckle).
RAYLEIGH_MEAN_TO_STD = math.sqrt(math.pi / (4.0 - math.pi))


@dataclass(frozen=True)
class ScanGeometry:
    """Probe geometry in millimetres.

    Parameters
    ----------
    kind
        ``"convex"``: beams fan out from a virtual apex ``apex_radius_mm``
        above the skin (``apex_radius_mm=0`` is a phased-array sector);
        ``"linear"``: parallel beams across ``width_mm``.
    depth_mm
        Imaging depth below the skin.
    fov_deg
        Opening angle of a convex/sector probe.
    apex_radius_mm
        Radius of the convex array (distance apex -> skin line).
    width_mm
        Aperture width of a linear probe.
    n_samples, n_lines
        Size of the beam grid (depth samples, scan lines).
    frequency_mhz
        Centre frequency; scales attenuation (dB/cm/MHz) and the PSF.
    """

    kind: Literal["convex", "linear"] = "convex"
    depth_mm: float = 140.0
    fov_deg: float = 60.0
    apex_radius_mm: float = 40.0
    width_mm: float = 40.0
    n_samples: int = 256
    n_lines: int = 128
    frequency_mhz: float = 3.5

    def __post_init__(self) -> None:
        if self.kind not in ("convex", "linear"):
            raise ValueError(f"kind must be 'convex' or 'linear', got {self.kind!r}")
        for name in ("depth_mm", "fov_deg", "width_mm", "frequency_mhz"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be > 0, got {getattr(self, name)!r}")
        if self.apex_radius_mm < 0:
            raise ValueError(f"apex_radius_mm must be >= 0, got {self.apex_radius_mm!r}")
        if self.n_samples < 8 or self.n_lines < 8:
            raise ValueError(
                f"n_samples and n_lines must be >= 8, got {self.n_samples}, {self.n_lines}"
            )

    def beam_positions_mm(self) -> tuple[np.ndarray, np.ndarray]:
        """Physical ``(x_mm, z_mm)`` of every beam sample, arrays ``(n_samples, n_lines)``.

        ``x`` is lateral (0 at the probe centre), ``z`` is depth below the
        centre of the skin line.
        """
        depth = np.linspace(0.0, self.depth_mm, self.n_samples)[:, None]
        if self.kind == "linear":
            x = np.linspace(-self.width_mm / 2, self.width_mm / 2, self.n_lines)[None, :]
            return np.broadcast_to(x, (self.n_samples, self.n_lines)).copy(), np.broadcast_to(
                depth, (self.n_samples, self.n_lines)
            ).copy()
        half = math.radians(self.fov_deg) / 2
        theta = np.linspace(-half, half, self.n_lines)[None, :]
        radius = self.apex_radius_mm + depth
        return radius * np.sin(theta), radius * np.cos(theta) - self.apex_radius_mm

    def to_beam_index(self, x_mm: np.ndarray, z_mm: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Fractional ``(line, sample)`` indices of physical points (may fall outside the grid)."""
        if self.kind == "linear":
            line = (x_mm + self.width_mm / 2) / self.width_mm * (self.n_lines - 1)
            sample = z_mm / self.depth_mm * (self.n_samples - 1)
            return line, sample
        half = math.radians(self.fov_deg) / 2
        x32 = np.ascontiguousarray(x_mm, dtype=np.float32)
        zr = np.ascontiguousarray(
            np.asarray(z_mm, dtype=np.float32) + np.float32(self.apex_radius_mm)
        )
        radius, theta = cv2.cartToPolar(zr, x32)  # theta = atan2(x, zr) in [0, 2 pi)
        radius, theta = radius.reshape(x32.shape), theta.reshape(x32.shape)
        theta = np.where(theta > math.pi, theta - np.float32(2 * math.pi), theta)
        line = (theta + half) / (2 * half) * (self.n_lines - 1)
        sample = (radius - self.apex_radius_mm) / self.depth_mm * (self.n_samples - 1)
        return line, sample

    @property
    def sample_mm(self) -> float:
        """Axial distance between two beam samples."""
        return self.depth_mm / (self.n_samples - 1)


@dataclass(frozen=True)
class CanvasLayout:
    """Where the probe's physical frame lies on the screen canvas.

    Parameters
    ----------
    canvas_hw
        Canvas size (rows, cols).
    spacing_mm
        Physical size of one canvas pixel (isotropic).
    skin_px
        Canvas point ``(x, y)`` of the centre of the skin line (probe centre).
    """

    canvas_hw: tuple[int, int]
    spacing_mm: float
    skin_px: tuple[float, float]

    def mm_to_px(
        self, x_mm: np.ndarray | float, z_mm: np.ndarray | float
    ) -> tuple[np.ndarray, np.ndarray]:
        """Canvas ``(x, y)`` pixel coordinates of physical points."""
        return (
            np.asarray(x_mm) / self.spacing_mm + self.skin_px[0],
            np.asarray(z_mm) / self.spacing_mm + self.skin_px[1],
        )

    def px_to_mm(
        self, x_px: np.ndarray | float, y_px: np.ndarray | float
    ) -> tuple[np.ndarray, np.ndarray]:
        """Physical ``(x_mm, z_mm)`` of canvas pixel coordinates."""
        x_px, y_px = np.asarray(x_px), np.asarray(y_px)
        dtype = np.float32 if x_px.dtype == np.float32 else np.float64
        return (
            (x_px - dtype(self.skin_px[0])) * dtype(self.spacing_mm),
            (y_px - dtype(self.skin_px[1])) * dtype(self.spacing_mm),
        )


class Scanner:
    """A probe drawn on a canvas, with every geometry-only map precomputed.

    Parameters
    ----------
    geometry
        The probe.
    layout
        Where it is drawn.
    axial_psf_mm, lateral_psf_mm
        Standard deviations of the Gaussian point-spread function (the
        lateral one at the probe's mid depth for convex probes: in beam
        space it is a constant number of lines, so the beam widens with
        depth as a real unfocused beam does).
    """

    def __init__(
        self,
        geometry: ScanGeometry,
        layout: CanvasLayout,
        *,
        axial_psf_mm: float = 0.45,
        lateral_psf_mm: float = 1.3,
    ) -> None:
        self.geometry = geometry
        self.layout = layout
        rows, cols = layout.canvas_hw
        # canvas -> beam (scan conversion)
        xx = np.arange(cols, dtype=np.float32)[None, :]
        yy = np.arange(rows, dtype=np.float32)[:, None]
        x_mm, z_mm = layout.px_to_mm(
            np.broadcast_to(xx, (rows, cols)), np.broadcast_to(yy, (rows, cols))
        )
        line, sample = geometry.to_beam_index(x_mm, z_mm)
        inside = (
            (line >= 0)
            & (line <= geometry.n_lines - 1)
            & (sample >= 0)
            & (sample <= geometry.n_samples - 1)
        )
        self.sector_mask = inside
        self._scan_map_x = np.where(inside, line, -10.0).astype(np.float32)
        self._scan_map_y = np.where(inside, sample, -10.0).astype(np.float32)
        # beam -> canvas (sampling tissue maps drawn on the canvas)
        bx_mm, bz_mm = geometry.beam_positions_mm()
        bx_px, by_px = layout.mm_to_px(bx_mm, bz_mm)
        self._tissue_map_x = bx_px.astype(np.float32)
        self._tissue_map_y = by_px.astype(np.float32)
        # point-spread function in beam samples / lines
        sigma_axial = axial_psf_mm / geometry.sample_mm
        if geometry.kind == "linear":
            line_mm = geometry.width_mm / (geometry.n_lines - 1)
        else:
            mid_radius = geometry.apex_radius_mm + geometry.depth_mm / 2
            line_mm = mid_radius * math.radians(geometry.fov_deg) / (geometry.n_lines - 1)
        sigma_lateral = lateral_psf_mm / line_mm
        self._kernel_axial = _gaussian_kernel(sigma_axial)
        self._kernel_lateral = _gaussian_kernel(sigma_lateral)
        # speckle normalisation: E|h*w|^2 = sum(h^2) for unit complex white noise
        energy = float(np.sum(self._kernel_axial**2) * np.sum(self._kernel_lateral**2))
        self._psf_norm = 1.0 / math.sqrt(energy)
        self.depth_cm = (np.linspace(0.0, geometry.depth_mm, geometry.n_samples) / 10.0).astype(
            np.float32
        )

    # ------------------------------------------------------------------ maps
    def to_beam(self, canvas_map: np.ndarray, *, nearest: bool = False) -> np.ndarray:
        """Sample a canvas-sized map at every beam sample (shape ``(n_samples, n_lines)``)."""
        interpolation = cv2.INTER_NEAREST if nearest else cv2.INTER_LINEAR
        return cv2.remap(
            canvas_map,
            self._tissue_map_x,
            self._tissue_map_y,
            interpolation,
            borderMode=cv2.BORDER_REPLICATE,
        )

    def scan_convert(self, beam_image: np.ndarray) -> np.ndarray:
        """Beam-space image -> canvas (bilinear), zero outside the field of view."""
        return cv2.remap(
            beam_image,
            self._scan_map_x,
            self._scan_map_y,
            cv2.INTER_LINEAR,
            borderMode=cv2.BORDER_CONSTANT,
            borderValue=0,
        )

    # ------------------------------------------------------------- physics
    def envelope(
        self,
        backscatter: np.ndarray,
        *,
        rng: np.random.Generator,
        specular: np.ndarray | None = None,
    ) -> np.ndarray:
        """Speckle envelope of a backscatter amplitude map (beam space).

        ``backscatter`` scales unit complex Gaussian scatterers; ``specular``
        adds a coherent real echo (interfaces). The PSF is normalised so that
        a uniform backscatter of 1 gives ``E[envelope^2] = 1``.
        """
        shape = backscatter.shape
        field = rng.standard_normal((*shape, 2), dtype=np.float32)
        field *= (backscatter * np.float32(math.sqrt(0.5)))[..., None]
        if specular is not None:
            field[..., 0] += specular
        blurred = cv2.sepFilter2D(
            field, -1, self._kernel_lateral, self._kernel_axial, borderType=cv2.BORDER_REFLECT
        )
        return cv2.magnitude(blurred[..., 0], blurred[..., 1]) * np.float32(self._psf_norm)

    def transmission(self, attenuation_db_cm_mhz: np.ndarray) -> np.ndarray:
        """Round-trip amplitude transmission to every sample, from a beam-space attenuation map."""
        step_cm = self.geometry.sample_mm / 10.0
        loss_db = np.cumsum(attenuation_db_cm_mhz, axis=0, dtype=np.float32)
        loss_db *= np.float32(2.0 * self.geometry.frequency_mhz * step_cm)
        return np.power(np.float32(10.0), -loss_db / np.float32(20.0))

    def tgc(
        self, *, attenuation_db_cm_mhz: float = 0.35, gain_error_db: np.ndarray | float = 0.0
    ) -> np.ndarray:
        """Time-gain compensation column ``(n_samples, 1)`` undoing average soft-tissue decay."""
        gain_db = (
            2.0 * attenuation_db_cm_mhz * self.geometry.frequency_mhz * self.depth_cm
            + gain_error_db
        )
        return np.power(10.0, gain_db / 20.0).astype(np.float32)[:, None]

    def log_compress(
        self, envelope: np.ndarray, *, gain_db: float, dynamic_range_db: float
    ) -> np.ndarray:
        """Map ``20 log10(envelope) + gain_db`` from ``[-dynamic_range_db, 0]`` to ``[0, 255]``."""
        level_db = np.float32(20.0) * np.log10(np.maximum(envelope, np.float32(1e-6)))
        grey = (level_db + np.float32(gain_db + dynamic_range_db)) * np.float32(
            255.0 / dynamic_range_db
        )
        return np.clip(grey, 0.0, 255.0, out=grey)

    def frame(
        self,
        backscatter: np.ndarray,
        attenuation_db_cm_mhz: np.ndarray,
        *,
        rng: np.random.Generator,
        specular: np.ndarray | None = None,
        gain_db: float = -6.0,
        dynamic_range_db: float = 50.0,
        tgc_error_db: np.ndarray | float = 0.0,
        noise_level: float = 0.01,
    ) -> np.ndarray:
        """A scan-converted ``uint8`` canvas from beam-space tissue maps.

        Parameters
        ----------
        backscatter, attenuation_db_cm_mhz
            Beam-space maps (``(n_samples, n_lines)``, float32).
        rng
            Random generator (the only source of randomness).
        specular
            Coherent interface echoes (beam space), optional.
        gain_db, dynamic_range_db
            Overall gain and display dynamic range.
        tgc_error_db
            Imperfection of the TGC: a scalar or a column ``(n_samples, 1)``.
        noise_level
            Electronic noise amplitude (relative to soft tissue).
        """
        trans = self.transmission(attenuation_db_cm_mhz)
        scatter = backscatter * trans
        spec = None if specular is None else specular * trans
        env = self.envelope(scatter, rng=rng, specular=spec)
        env *= self.tgc(gain_error_db=tgc_error_db)
        if noise_level > 0:
            noise = rng.standard_normal((*env.shape, 2), dtype=np.float32)
            env = cv2.magnitude(
                env + noise[..., 0] * np.float32(noise_level),
                noise[..., 1] * np.float32(noise_level),
            )
        grey = self.log_compress(env, gain_db=gain_db, dynamic_range_db=dynamic_range_db)
        canvas = self.scan_convert(grey)
        return np.rint(canvas).astype(np.uint8)


def _gaussian_kernel(sigma: float) -> np.ndarray:
    """A 1D Gaussian kernel (float32, unnormalised peak 1) reaching 3 sigma."""
    sigma = max(float(sigma), 0.3)
    radius = max(1, int(math.ceil(3 * sigma)))
    offsets = np.arange(-radius, radius + 1, dtype=np.float64)
    return np.exp(-0.5 * (offsets / sigma) ** 2).astype(np.float32)

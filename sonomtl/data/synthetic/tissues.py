"""Acoustic properties of the simulated tissues.

Values are relative, chosen to reproduce the grey levels seen on clinical
B-mode images rather than measured impedances: backscatter is an amplitude
relative to liver parenchyma (1.0); attenuation is in dB/cm/MHz (soft tissue
about 0.5, fluid about 0.002-0.1, bone > 10); echotexture contrasts are the
standard deviations of a fine and a coarse multiplicative texture field, so
that organs differ by their grain as well as by their brightness.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Tissue", "TISSUES", "tissue"]


@dataclass(frozen=True)
class Tissue:
    """One tissue type.

    Parameters
    ----------
    name
        Identifier used by the scenes.
    backscatter
        Speckle amplitude relative to liver (1.0).
    attenuation_db_cm_mhz
        Attenuation coefficient.
    fine_texture, coarse_texture
        Std of the multiplicative echotexture at a fine (~2 mm) and a coarse
        (~10 mm) scale.
    """

    name: str
    backscatter: float
    attenuation_db_cm_mhz: float
    fine_texture: float = 0.1
    coarse_texture: float = 0.1


_TABLE = (
    Tissue("soft", 0.9, 0.6, 0.25, 0.2),
    Tissue("fat", 0.45, 0.5, 0.5, 0.2),
    Tissue("muscle", 0.6, 0.8, 0.35, 0.15),
    Tissue("fluid", 0.006, 0.02, 0.0, 0.0),
    Tissue("amniotic", 0.007, 0.01, 0.4, 0.0),
    Tissue("blood", 0.01, 0.15, 0.0, 0.0),
    Tissue("bone", 4.0, 6.0, 0.2, 0.1),
    Tissue("gas", 5.0, 25.0, 0.3, 0.3),
    Tissue("liver", 1.0, 0.5, 0.15, 0.08),
    Tissue("spleen", 1.15, 0.5, 0.1, 0.05),
    Tissue("kidney_cortex", 0.55, 0.5, 0.15, 0.05),
    Tissue("renal_sinus", 2.2, 0.7, 0.5, 0.2),
    Tissue("bowel", 1.5, 0.9, 0.6, 0.4),
    Tissue("lung", 1.35, 0.7, 0.12, 0.05),
    Tissue("placenta", 1.1, 0.5, 0.2, 0.15),
    Tissue("myocardium", 0.8, 0.6, 0.15, 0.05),
    Tissue("fetal_soft", 0.85, 0.45, 0.2, 0.1),
    Tissue("skin", 2.0, 0.9, 0.2, 0.1),
)

#: All tissues by name.
TISSUES: dict[str, Tissue] = {t.name: t for t in _TABLE}


def tissue(name: str) -> Tissue:
    """The tissue called ``name`` (``ValueError`` naming the known ones otherwise)."""
    try:
        return TISSUES[name]
    except KeyError:
        raise ValueError(f"unknown tissue {name!r}; expected one of {sorted(TISSUES)}") from None

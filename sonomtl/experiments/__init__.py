"""Experiments that reproduce the papers' tables.

:mod:`.msen` (paper 000, Tables 1-2) and :mod:`.abdominal` (paper 004, Table 1, Figs. 3-4).
"""

from __future__ import annotations

__all__: list[str] = []

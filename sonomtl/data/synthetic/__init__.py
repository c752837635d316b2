"""The built-in synthetic ultrasound and sonographer-gaze simulator.

Two generators write data sets in the manifest contract of
``docs/data-format.md``:

* :func:`generate_sweeps` - fetal abdominal sweeps (ACP vs background) with
  simulated review gaze (paper 1);
* :func:`generate_abdominal` - adult abdominal views with landmarks (paper 2).

Modules: ``formation`` (B-mode image formation), ``tissues``, ``scene``
(shapes and rendering), ``overlays``, ``fetal`` and ``sweeps``, ``gaze``,
``abdominal``. Same seed, same bytes.
"""

from __future__ import annotations

from sonomtl.data.synthetic.abdominal import generate_abdominal
from sonomtl.data.synthetic.sweeps import generate_sweeps

__all__ = ["generate_sweeps", "generate_abdominal"]

"""Importers: public ultrasound data sets in their published layout -> sonomtl dataset folders.

Each importer writes a self-contained dataset (images copied into
``OUT/images``, ``dataset.yaml``, ``manifest.csv``) and returns a small
report dict; it checks everything before writing anything.

* :func:`import_hc18` -- HC18 fetal head biometry: skull-ellipse landmarks,
  OFD/BPD/HC measurements.
* :func:`import_sononet_examples` -- the 13 labelled SonoNet example frames.
"""

from __future__ import annotations

from sonomtl.data.importers.hc18 import import_hc18
from sonomtl.data.importers.sononet_examples import import_sononet_examples

__all__ = ["import_hc18", "import_sononet_examples"]

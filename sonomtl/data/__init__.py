"""The data layer: dataset folders, readers, preprocessing, datasets, splits, sampling.

Nothing heavy is imported here; import the sub-modules where they are used::

    from sonomtl.data.manifest import load_dataset, write_dataset
    from sonomtl.data.dataset import UltrasoundDataset, collate_samples
"""

from __future__ import annotations

__all__: list[str] = []

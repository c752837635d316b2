"""Whether an experiment's run folder may be resumed or reused by a new invocation.

An interrupted experiment, run again with the same arguments, continues each
run from its last checkpoint, and a finished run is only scored again. A
folder holding a run of another config is refused, naming the keys that
differ: reusing it would put results of other settings in the tables.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sonomtl.errors import InputError

__all__ = ["check_reusable"]


def check_reusable(run_dir: Path, config: Any) -> bool:
    """Whether ``run_dir`` holds a run of this very ``config`` (``False``: no run there yet).

    Raises :class:`InputError` naming ``run_dir/config.yaml`` when it holds a
    run of another config.
    """
    from sonomtl.config import config_to_dict, flatten_config, load_config

    saved = Path(run_dir) / "config.yaml"
    if not saved.is_file():
        return False
    before = flatten_config(config_to_dict(load_config(saved)))
    now = flatten_config(config_to_dict(config))
    if before != now:
        differing = sorted(k for k in before.keys() | now.keys() if before.get(k) != now.get(k))
        raise InputError(f"holds a run of another config (differs in {', '.join(differing)}); "
                         "choose another --out", file=saved)
    return True


"""Run by test_ddp.py: train the example config with 2 DDP processes, dump what each process saw.

``python tests/training/ddp_worker.py OUT_DIR key=value...``: Fabric's launcher starts the
second process by running this same script again. Each process writes
``OUT_DIR/rank{r}.safetensors`` (its final parameters and buffers) and
``OUT_DIR/rank{r}.json`` (the sample indices of its training batches, in order).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from safetensors.torch import save_file

from sonomtl.config import load_config
from sonomtl.training.run import train

ROOT = Path(__file__).resolve().parents[2]


def main() -> None:
    out = Path(sys.argv[1])
    config = load_config(ROOT / "sonomtl" / "configs" / "example.yaml", sys.argv[2:])
    result = train(config)
    tensors = {
        f"{name}.{key}": value.detach().cpu().clone().contiguous()
        for name, module in result.modules.items()
        for key, value in module.state_dict().items()
    }
    save_file(tensors, str(out / f"rank{result.rank}.safetensors"))
    (out / f"rank{result.rank}.json").write_text(
        json.dumps({"world_size": result.world_size, "indices": result.task.seen_indices})
    )


if __name__ == "__main__":
    main()

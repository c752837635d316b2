"""sonomtl: multi-task deep learning for medical ultrasound.

Two published systems and everything around them:

* M-SEN (gaze-learned attention maps + standard-plane detection), and
* the abdominal multi-task network (11 views + 14 landmarks + measurements).

Sub-packages are imported lazily where used; ``import sonomtl`` is cheap.
"""

from __future__ import annotations

from sonomtl.errors import InputError

__version__ = "0.1.0"

__all__ = ["InputError", "__version__"]

"""Shared vocabulary: the views, landmarks and measurements of the abdominal paper (004).

One definition shared by the simulator, the networks' ``default_cfg`` and
inference defaults; the names are the ones in docs/data-format.md ("The
abdominal views"). Left and right kidney views share landmark channels, giving
5 landmark tasks with 14 landmarks in all.
"""

from __future__ import annotations

__all__ = [
    "ABDOMINAL_CLASSES",
    "ABDOMINAL_LANDMARKS",
    "LANDMARK_TASKS",
    "MEASUREMENTS",
    "VIEW_LANDMARKS",
]

#: The 11 views, in class-id order.
ABDOMINAL_CLASSES: tuple[str, ...] = (
    "liver_right_long",
    "liver_right_trans",
    "liver_left_long",
    "liver_left_trans",
    "kidney_right_long",
    "kidney_right_trans",
    "kidney_left_long",
    "kidney_left_trans",
    "spleen_long",
    "spleen_trans",
    "others",
)
#: The 5 landmark tasks and their landmarks, in heat-map channel order.
LANDMARK_TASKS: dict[str, tuple[str, ...]] = {
    "kidney_long": ("kidney_long_1", "kidney_long_2"),
    "kidney_trans": (
        "kidney_trans_la_1",
        "kidney_trans_la_2",
        "kidney_trans_sa_1",
        "kidney_trans_sa_2",
    ),
    "liver_long": ("liver_long_1", "liver_long_2"),
    "spleen_long": ("spleen_long_1", "spleen_long_2"),
    "spleen_trans": (
        "spleen_trans_la_1",
        "spleen_trans_la_2",
        "spleen_trans_sa_1",
        "spleen_trans_sa_2",
    ),
}
#: The 14 landmarks (heat-map channel order).
ABDOMINAL_LANDMARKS: tuple[str, ...] = tuple(n for names in LANDMARK_TASKS.values() for n in names)
#: Landmarks annotated on each view (views not listed have none).
VIEW_LANDMARKS: dict[str, tuple[str, ...]] = {
    "kidney_right_long": LANDMARK_TASKS["kidney_long"],
    "kidney_left_long": LANDMARK_TASKS["kidney_long"],
    "kidney_right_trans": LANDMARK_TASKS["kidney_trans"],
    "kidney_left_trans": LANDMARK_TASKS["kidney_trans"],
    "liver_right_long": LANDMARK_TASKS["liver_long"],
    "spleen_long": LANDMARK_TASKS["spleen_long"],
    "spleen_trans": LANDMARK_TASKS["spleen_trans"],
}
#: Table 1's measurements: the distance between the ``_1``/``_2`` pair of one axis.
MEASUREMENTS: dict[str, tuple[str, str]] = {
    "KL_LA": ("kidney_long_1", "kidney_long_2"),
    "KT_LA": ("kidney_trans_la_1", "kidney_trans_la_2"),
    "KT_SA": ("kidney_trans_sa_1", "kidney_trans_sa_2"),
    "LL_LA": ("liver_long_1", "liver_long_2"),
    "SL_LA": ("spleen_long_1", "spleen_long_2"),
    "ST_LA": ("spleen_trans_la_1", "spleen_trans_la_2"),
    "ST_SA": ("spleen_trans_sa_1", "spleen_trans_sa_2"),
}

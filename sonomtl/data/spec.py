"""``dataset.yaml``: what a dataset is (classes, landmarks, measurements, geometry).

Parsed and validated into the frozen :class:`DatasetSpec`; every problem in a
user's file raises :class:`sonomtl.errors.InputError` naming the file and the
(dotted) key. The contract is ``docs/data-format.md``; the manifest rows are
handled by :mod:`sonomtl.data.manifest`, which re-exports this module's API.

Examples
--------
>>> spec = spec_from_dict({"name": "demo", "classes": ["a", "b"], "landmarks": ["p", "q"],
...                        "view_landmarks": {"b": ["q"]}})
>>> spec.class_index("b"), spec.landmarks_for_label("b"), spec.landmarks_for_label("a")
(1, [1], [])
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sonomtl.errors import InputError, one_line
from sonomtl.untrusted import check_input_hw, resolve_inside

__all__ = [
    "BACKGROUND_CLASS_NAMES",
    "FORMAT_VERSION",
    "MEASUREMENT_TYPES",
    "SPEC_FILE",
    "DatasetSpec",
    "GazeSetup",
    "Measurement",
    "is_background_class",
    "load_spec",
    "spec_from_dict",
]

FORMAT_VERSION = 1
SPEC_FILE = "dataset.yaml"

#: Measurement type -> number of landmarks it takes.
MEASUREMENT_TYPES = {"distance": 2, "ellipse_circumference": 4}

_GAZE_FORMATS = ("eyetribe", "csv", "tsv")


@dataclass(frozen=True)
class Measurement:
    """A clinical measurement defined on landmarks (values in mm).

    ``type`` is ``"distance"`` (2 landmarks) or ``"ellipse_circumference"``
    (major-axis end points, then minor-axis end points; Ramanujan's formula).
    """

    type: str
    landmarks: tuple[str, ...]


@dataclass(frozen=True)
class GazeSetup:
    """Screen geometry of an eye-tracking recording (``gaze:`` in ``dataset.yaml``).

    ``screen_px`` and ``screen_cm`` are (width, height); ``image_rect_px`` is
    (x0, y0, width, height) of the uncropped frame on the screen; ``logs`` maps
    a sequence id to a log path relative to the dataset folder.
    """

    screen_px: tuple[int, int]
    screen_cm: tuple[float, float]
    distance_cm: float
    image_rect_px: tuple[float, float, float, float]
    format: str = "eyetribe"
    logs: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class DatasetSpec:
    """What a dataset is: the parsed ``dataset.yaml``.

    Class id = index in ``classes``; heat-map channel = index in ``landmarks``.
    ``crop`` is ``None``, ``(row0, row1, col0, col1)`` (half-open) or ``"auto"``.
    ``mask_rects`` are ``(x0, y0, x1, y1)`` in original pixels. ``metadata`` is a
    free-form mapping for provenance (source, licence, importer figures).
    """

    name: str
    classes: tuple[str, ...] = ()
    landmarks: tuple[str, ...] = ()
    view_landmarks: dict[str, tuple[str, ...]] = field(default_factory=dict)
    landmark_tasks: dict[str, tuple[str, ...]] = field(default_factory=dict)
    flip_pairs: tuple[tuple[str, str], ...] = ()
    measurements: dict[str, Measurement] = field(default_factory=dict)
    input_size: tuple[int, int] = (240, 240)
    target_spacing_mm: float | None = None
    crop: tuple[int, int, int, int] | str | None = None
    mask_rects: tuple[tuple[float, float, float, float], ...] = ()
    frame_rate_hz: float | None = None
    gaze: GazeSetup | None = None
    format_version: int = FORMAT_VERSION
    description: str = ""
    metadata: dict[str, Any] = field(default_factory=dict)
    allow_external_paths: bool = False

    def __post_init__(self) -> None:
        # Lists given from Python become tuples, so equality survives a round trip.
        tup = tuple
        fix = object.__setattr__
        fix(self, "classes", tup(self.classes))
        fix(self, "landmarks", tup(self.landmarks))
        fix(self, "view_landmarks", {k: tup(v) for k, v in dict(self.view_landmarks).items()})
        fix(self, "landmark_tasks", {k: tup(v) for k, v in dict(self.landmark_tasks).items()})
        fix(self, "flip_pairs", tup(tup(p) for p in self.flip_pairs))
        fix(self, "measurements", {k: m if isinstance(m, Measurement) else
                                   Measurement(m["type"], tup(m["landmarks"]))
                                   for k, m in dict(self.measurements).items()})
        fix(self, "input_size", tup(self.input_size))
        if self.crop is not None and not isinstance(self.crop, str):
            fix(self, "crop", tup(self.crop))
        fix(self, "mask_rects", tup(tup(r) for r in self.mask_rects))
        fix(self, "metadata", dict(self.metadata))
        _check_spec({f.name: getattr(self, f.name) for f in dataclasses.fields(self)},
                    file=None)

    # -- look-ups ---------------------------------------------------------------------
    def class_index(self, name: str) -> int:
        """Class id of ``name``; ``KeyError`` naming the known classes when unknown."""
        try:
            return self.classes.index(name)
        except ValueError:
            raise KeyError(f"unknown class {name!r}; known: {list(self.classes)}") from None

    def landmark_index(self, name: str) -> int:
        """Heat-map channel of landmark ``name``; ``KeyError`` when unknown."""
        try:
            return self.landmarks.index(name)
        except ValueError:
            raise KeyError(f"unknown landmark {name!r}; known: {list(self.landmarks)}") from None

    def landmarks_for_label(self, label: str | int | None) -> list[int]:
        """Channels of the landmarks annotated on frames of class ``label``.

        Without ``view_landmarks`` every landmark belongs to every frame (e.g.
        HC18). With it, a class (or an unlabelled frame, ``None``/``-1``) that
        it does not list has no landmarks.
        """
        if not self.view_landmarks:
            return list(range(len(self.landmarks)))
        if label is None or (isinstance(label, int) and label < 0):
            return []
        name = self.classes[label] if isinstance(label, int) else label
        return [self.landmark_index(n) for n in self.view_landmarks.get(name, ())]

    @property
    def flip_permutation(self) -> list[int]:
        """Channel permutation applied by a horizontal flip (``flip_pairs`` swapped)."""
        perm = list(range(len(self.landmarks)))
        for left, right in self.flip_pairs:
            i, j = self.landmark_index(left), self.landmark_index(right)
            perm[i], perm[j] = j, i
        return perm

    def to_dict(self) -> dict[str, Any]:
        """Plain YAML/JSON-able mapping; ``spec_from_dict(spec.to_dict()) == spec``."""
        out: dict[str, Any] = {
            "format_version": self.format_version,
            "name": self.name,
            "classes": list(self.classes),
            "landmarks": list(self.landmarks),
            "view_landmarks": {k: list(v) for k, v in self.view_landmarks.items()},
            "landmark_tasks": {k: list(v) for k, v in self.landmark_tasks.items()},
            "flip_pairs": [list(p) for p in self.flip_pairs],
            "measurements": {
                k: {"type": m.type, "landmarks": list(m.landmarks)}
                for k, m in self.measurements.items()
            },
            "input_size": list(self.input_size),
            "target_spacing_mm": self.target_spacing_mm,
            "crop": list(self.crop) if isinstance(self.crop, tuple) else self.crop,
            "mask_rects": [list(r) for r in self.mask_rects],
            "frame_rate_hz": self.frame_rate_hz,
            "gaze": None,
        }
        if self.gaze is not None:
            g = self.gaze
            out["gaze"] = {
                "screen_px": list(g.screen_px), "screen_cm": list(g.screen_cm),
                "distance_cm": g.distance_cm, "image_rect_px": list(g.image_rect_px),
                "format": g.format, "logs": dict(g.logs),
            }
        if self.description:
            out["description"] = self.description
        if self.metadata:
            out["metadata"] = dict(self.metadata)
        if self.allow_external_paths:
            out["allow_external_paths"] = True
        return out


def load_spec(path_or_folder: str | os.PathLike[str]) -> DatasetSpec:
    """Read and validate ``dataset.yaml`` (a file, or the dataset folder holding it).

    Raises
    ------
    InputError
        The file is missing or not YAML, a key is unknown, or a value has the
        wrong type or names an unknown class/landmark.
    """
    import yaml

    from sonomtl.yaml_files import load_yaml

    path = Path(path_or_folder)
    if path.is_dir():
        path = path / SPEC_FILE
    if not path.is_file():
        raise InputError("dataset description not found (expected a dataset folder with "
                         f"{SPEC_FILE})", file=path)
    try:
        data = load_yaml(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as error:
        raise InputError(f"not valid YAML: {one_line(error)}", file=path) from None
    spec = spec_from_dict(data, file=path)
    if spec.gaze is not None:  # every log inside the folder unless allowed otherwise
        for sequence, log in spec.gaze.logs.items():
            resolve_inside(path.parent, log, file=path, field=f"gaze.logs.{sequence}",
                           allow_external=spec.allow_external_paths)
    return spec


def _flag(value: Any, key: str, file: Any) -> bool:
    """A YAML boolean (``true``/``false``), nothing else."""
    if not isinstance(value, bool):
        raise InputError(f"expected true or false, got {value!r}", file=file, field=key)
    return value


def spec_from_dict(data: Any, *, file: str | os.PathLike[str] | None = None) -> DatasetSpec:
    """Validate a parsed ``dataset.yaml`` mapping into a :class:`DatasetSpec`.

    ``file`` is only used to name the source in error messages.
    """
    if not isinstance(data, Mapping):
        raise InputError(f"expected a mapping of keys, got {type(data).__name__}", file=file)
    known = {f.name for f in dataclasses.fields(DatasetSpec)}
    for key in data:
        if key not in known:
            raise InputError(f"unknown key{did_you_mean(str(key), known)}", file=file,
                             field=str(key))
    if "name" not in data:
        raise InputError("missing required key", file=file, field="name")
    p = _Parser(file)
    version = p.integer(data.get("format_version", FORMAT_VERSION), "format_version")
    if version != FORMAT_VERSION:
        raise InputError(f"unsupported format_version {version}; this sonomtl reads "
                         f"{FORMAT_VERSION}", file=file, field="format_version")
    measurements = {}
    for m_name, m in p.mapping(data.get("measurements"), "measurements").items():
        key = f"measurements.{m_name}"
        m = p.mapping(m, key)
        p.only_keys(m, ("type", "landmarks"), key)
        m_type = p.string(m.get("type"), f"{key}.type")
        measurements[str(m_name)] = Measurement(m_type, p.names(m.get("landmarks"),
                                                                f"{key}.landmarks"))
    crop = data.get("crop")
    if isinstance(crop, str) and crop != "auto":
        p.fail("null, 'auto' or [row0, row1, col0, col1]", crop, "crop")
    if crop is not None and crop != "auto":
        crop = p.numbers(crop, "crop", 4, integer=True)
    gaze = None
    if data.get("gaze") is not None:
        g = p.mapping(data["gaze"], "gaze")
        gaze_keys = [f.name for f in dataclasses.fields(GazeSetup)]
        p.only_keys(g, gaze_keys, "gaze")
        for key in gaze_keys[:4]:
            if key not in g:
                raise InputError("missing required key", file=file, field=f"gaze.{key}")
        gaze = GazeSetup(
            screen_px=p.numbers(g["screen_px"], "gaze.screen_px", 2, integer=True),
            screen_cm=p.numbers(g["screen_cm"], "gaze.screen_cm", 2),
            distance_cm=p.number(g["distance_cm"], "gaze.distance_cm"),
            image_rect_px=p.numbers(g["image_rect_px"], "gaze.image_rect_px", 4),
            format=p.string(g.get("format", "eyetribe"), "gaze.format"),
            logs={str(k): p.string(v, f"gaze.logs.{k}")
                  for k, v in p.mapping(g.get("logs"), "gaze.logs").items()},
        )
    metadata = data.get("metadata") or {}
    if not isinstance(metadata, Mapping):
        raise InputError("expected a mapping", file=file, field="metadata")
    spec_args = dict(
        name=p.string(data["name"], "name"),
        classes=p.names(data.get("classes"), "classes"),
        landmarks=p.names(data.get("landmarks"), "landmarks"),
        view_landmarks={str(k): p.names(v, f"view_landmarks.{k}") for k, v in
                        p.mapping(data.get("view_landmarks"), "view_landmarks").items()},
        landmark_tasks={str(k): p.names(v, f"landmark_tasks.{k}") for k, v in
                        p.mapping(data.get("landmark_tasks"), "landmark_tasks").items()},
        flip_pairs=tuple(p.names(pair, f"flip_pairs[{i}]", length=2)
                         for i, pair in enumerate(p.sequence(data.get("flip_pairs"),
                                                             "flip_pairs"))),
        measurements=measurements,
        input_size=p.numbers(data.get("input_size", [240, 240]), "input_size", 2, integer=True),
        target_spacing_mm=p.optional_number(data.get("target_spacing_mm"), "target_spacing_mm"),
        crop=crop,
        mask_rects=tuple(p.numbers(r, f"mask_rects[{i}]", 4) for i, r in
                         enumerate(p.sequence(data.get("mask_rects"), "mask_rects"))),
        frame_rate_hz=p.optional_number(data.get("frame_rate_hz"), "frame_rate_hz"),
        gaze=gaze,
        format_version=version,
        description=p.string(data.get("description") or "", "description", allow_empty=True),
        metadata=dict(metadata),
        allow_external_paths=_flag(data.get("allow_external_paths", False),
                                   "allow_external_paths", file),
    )
    try:
        return DatasetSpec(**spec_args)
    except InputError as error:  # name the file the values came from
        raise InputError(error.message, file=file, field=error.field) from None


def _check_spec(v: dict[str, Any], *, file: Any) -> None:
    """Cross-reference checks of the spec's fields ``v``; raise InputError naming the key."""

    def fail(message: str, key: str) -> None:
        raise InputError(message, file=file, field=key)

    if not isinstance(v["name"], str) or not v["name"].strip():
        fail("expected a non-empty name", "name")
    for key in ("classes", "landmarks"):
        seen: set[str] = set()
        for item in v[key]:
            if item in seen:
                fail(f"duplicate name {item!r}", key)
            seen.add(item)
    classes, landmarks = set(v["classes"]), set(v["landmarks"])

    def known(names: Iterable[str], key: str) -> None:
        for n in names:
            if n not in landmarks:
                fail(f"unknown landmark {n!r}{did_you_mean(n, landmarks)}", key)

    for cls, names in v["view_landmarks"].items():
        if cls not in classes:
            fail(f"unknown class {cls!r}{did_you_mean(cls, classes)}", f"view_landmarks.{cls}")
        known(names, f"view_landmarks.{cls}")
    for task, names in v["landmark_tasks"].items():
        known(names, f"landmark_tasks.{task}")
    paired: set[str] = set()
    for i, pair in enumerate(v["flip_pairs"]):
        if len(pair) != 2 or pair[0] == pair[1]:
            fail("expected two different landmark names", f"flip_pairs[{i}]")
        known(pair, f"flip_pairs[{i}]")
        if paired & set(pair):
            fail("a landmark appears in more than one pair", f"flip_pairs[{i}]")
        paired |= set(pair)
    for m_name, m in v["measurements"].items():
        key = f"measurements.{m_name}"
        if m.type not in MEASUREMENT_TYPES:
            fail(f"unknown measurement type {m.type!r}; expected one of "
                 f"{sorted(MEASUREMENT_TYPES)}", f"{key}.type")
        if len(m.landmarks) != MEASUREMENT_TYPES[m.type]:
            fail(f"a {m.type} takes {MEASUREMENT_TYPES[m.type]} landmarks, got "
                 f"{len(m.landmarks)}", f"{key}.landmarks")
        known(m.landmarks, f"{key}.landmarks")
    check_input_hw(v["input_size"], file=file, field="input_size")
    for key in ("target_spacing_mm", "frame_rate_hz"):
        if v[key] is not None and not (math.isfinite(v[key]) and v[key] > 0):
            fail(f"expected a positive number or null, got {v[key]}", key)
    crop = v["crop"]
    if isinstance(crop, str) and crop != "auto":
        fail(f"expected null, 'auto' or [row0, row1, col0, col1], got {crop!r}", "crop")
    if isinstance(crop, tuple) and not (0 <= crop[0] < crop[1] and 0 <= crop[2] < crop[3]):
        fail(f"expected 0 <= row0 < row1 and 0 <= col0 < col1, got {list(crop)}", "crop")
    for i, (x0, y0, x1, y1) in enumerate(v["mask_rects"]):
        if not (x0 < x1 and y0 < y1):
            fail(f"expected [x0, y0, x1, y1] with x0 < x1 and y0 < y1, got {[x0, y0, x1, y1]}",
                 f"mask_rects[{i}]")
    g = v["gaze"]
    if g is not None:
        if g.format not in _GAZE_FORMATS:
            fail(f"unknown gaze format {g.format!r}; expected one of {list(_GAZE_FORMATS)}",
                 "gaze.format")
        for key in ("screen_px", "screen_cm", "image_rect_px"):
            vals = getattr(g, key)
            if not all(math.isfinite(x) for x in vals) or any(x <= 0 for x in vals[-2:]):
                fail(f"expected finite values with a positive size, got {list(vals)}",
                     f"gaze.{key}")
        if not (math.isfinite(g.distance_cm) and g.distance_cm > 0):
            fail(f"expected a positive distance, got {g.distance_cm}", "gaze.distance_cm")


class _Parser:
    """Type checks for YAML values; errors name the file and the dotted key."""

    def __init__(self, file: Any) -> None:
        self.file = file

    def fail(self, expected: str, value: Any, key: str) -> None:
        raise InputError(f"expected {expected}, got {value!r}", file=self.file, field=key)

    def mapping(self, value: Any, key: str) -> Mapping[str, Any]:
        if value is None:
            return {}
        if not isinstance(value, Mapping):
            self.fail("a mapping", value, key)
        return value

    def sequence(self, value: Any, key: str) -> list[Any]:
        if value is None:
            return []
        if not isinstance(value, (list, tuple)):
            self.fail("a list", value, key)
        return list(value)

    def only_keys(self, value: Mapping[str, Any], allowed: Sequence[str], key: str) -> None:
        for k in value:
            if k not in allowed:
                raise InputError(f"unknown key{did_you_mean(str(k), allowed)}",
                                 file=self.file, field=f"{key}.{k}")

    def string(self, value: Any, key: str, *, allow_empty: bool = False) -> str:
        if not isinstance(value, str) or (not allow_empty and not value.strip()):
            self.fail("a non-empty string", value, key)
        return value

    def names(self, value: Any, key: str, *, length: int | None = None) -> tuple[str, ...]:
        items = self.sequence(value, key)
        if length is not None and len(items) != length:
            self.fail(f"a list of {length} names", value, key)
        return tuple(self.string(item, key) for item in items)

    def number(self, value: Any, key: str, *, integer: bool = False) -> float:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        if not ok or (integer and not float(value).is_integer()):
            self.fail("an integer" if integer else "a number", value, key)
        return int(value) if integer else float(value)

    def integer(self, value: Any, key: str) -> int:
        return int(self.number(value, key, integer=True))

    def optional_number(self, value: Any, key: str) -> float | None:
        return None if value is None else self.number(value, key)

    def numbers(self, value: Any, key: str, length: int, *, integer: bool = False) -> tuple:
        items = self.sequence(value, key)
        if len(items) != length:
            self.fail(f"a list of {length} numbers", value, key)
        return tuple(self.number(x, key, integer=integer) for x in items)


def did_you_mean(name: str, choices: Iterable[str]) -> str:
    match = difflib.get_close_matches(name, list(choices), n=1, cutoff=0.6)
    return f" (did you mean {match[0]!r}?)" if match else ""


#: Class names read as background (compared case-insensitively): never a plane to score or to
#: find the best frame of.
BACKGROUND_CLASS_NAMES = frozenset({"bg", "background", "other", "others", "non-plane"})


def is_background_class(name: str) -> bool:
    """Whether a class name means "no standard plane" (``BG``, ``Background``, ``others``...)."""
    return name.strip().lower() in BACKGROUND_CLASS_NAMES

"""``sonomtl weights list|fetch|path|verify``: the model store of named, checksummed weights."""

from __future__ import annotations

import argparse
import sys

from sonomtl.cli._common import add_command

__all__ = ["register"]

_EXAMPLES = """
  sonomtl weights list
  sonomtl weights fetch sononet16        # download once into the cache (sha256-checked)
  sonomtl weights path sononet16         # where it is; never downloads
  sonomtl weights verify                 # re-hash every local copy
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``weights`` command group."""
    group = subparsers.add_parser(
        "weights", help="named pretrained weights: list, fetch, path, verify",
        description=(
            "The model store. Weights are named (sononet16) and found in this order: "
            "$SONOMTL_WEIGHTS_DIR, the per-user cache, the shared data folder, the package; "
            "else downloaded with a sha256 check. $SONOMTL_OFFLINE=1 never downloads."
        ),
    )
    commands = group.add_subparsers(dest="weights_command", metavar="COMMAND")
    listing = add_command(commands, "list", help="the registered weights and where each is",
                          examples="  sonomtl weights list")
    listing.set_defaults(func=_list)
    fetch = add_command(commands, "fetch", help="find or download NAME; prints its path",
                        examples="  sonomtl weights fetch sononet16")
    fetch.add_argument("name", metavar="NAME")
    fetch.add_argument("--timeout-s", type=float, default=30.0,
                       help="seconds a connection or read may stall (default: %(default)s)")
    fetch.set_defaults(func=_fetch)
    path = add_command(commands, "path", help="print the local path of NAME (no download)",
                       examples="  sonomtl weights path sononet16")
    path.add_argument("name", metavar="NAME")
    path.set_defaults(func=_path)
    verify = add_command(commands, "verify",
                         help="re-hash every local copy; exit 1 if any differs from the registry",
                         examples=_EXAMPLES)
    verify.add_argument("names", nargs="*", metavar="NAME", help="default: every entry")
    verify.set_defaults(func=_verify)
    group.set_defaults(func=lambda args: (group.print_help(), 2)[1])


def _list(args: argparse.Namespace) -> int:
    from sonomtl.errors import InputError
    from sonomtl.store import REGISTRY, find_local

    for name in sorted(REGISTRY):
        entry = REGISTRY[name]
        try:
            found = find_local(entry)
            where = f"{found.source}: {found.path}" if found else "not downloaded"
        except InputError:
            where = "local copy has the wrong checksum (sonomtl weights verify)"
        source = entry.url or "ships in the package"
        print(f"{name}  {entry.size_bytes / 1e6:.1f} MB  model={entry.model}  "
              f"licence={entry.licence}  {entry.description}\n    sha256 {entry.sha256}\n"
              f"    source {source}\n    cite {entry.citation}\n    here {where}")
    return 0


def _fetch(args: argparse.Namespace) -> int:
    from sonomtl.store import get_entry, resolve_weights

    get_entry(args.name)  # a bad name: one line, exit 2, before any download
    print(resolve_weights(args.name, timeout_s=args.timeout_s, progress=sys.stderr.isatty()))
    return 0


def _path(args: argparse.Namespace) -> int:
    from sonomtl.store import get_entry, resolve_weights

    get_entry(args.name)
    print(resolve_weights(args.name, download=False))
    return 0


def _verify(args: argparse.Namespace) -> int:
    from sonomtl.store import REGISTRY, candidate_locations, file_sha256, get_entry

    names = args.names or sorted(REGISTRY)
    entries = [get_entry(name) for name in names]
    bad = 0
    for entry in entries:
        present = [place for place in candidate_locations(entry) if place.path.is_file()]
        if not present:
            print(f"{entry.name}: missing (sonomtl weights fetch {entry.name})")
        for place in present:
            got = file_sha256(place.path)
            if got == entry.sha256:
                print(f"{entry.name}: ok  {place.path}")
            else:
                bad += 1
                print(f"{entry.name}: MISMATCH  {place.path}: expected sha256 {entry.sha256}, "
                      f"got {got}")
    return 1 if bad else 0

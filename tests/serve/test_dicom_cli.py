"""The DICOM node's options: parsed into settings, bad values refused naming the flag."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from sonomtl.errors import InputError
from sonomtl.serve.dicom_cli import add_dicom_arguments, dicom_settings_from_args
from sonomtl.serve.dicom_node import DicomNodeSettings
from sonomtl.serve.dicom_settings import ForwardTarget


def _parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_dicom_arguments(parser)
    return parser.parse_args(list(argv))


def test_no_dicom_port_means_no_node(tmp_path):
    assert dicom_settings_from_args(_parse("--dicom-allow", "STORESCU"), tmp_path) is None


def test_the_options_become_the_nodes_settings(tmp_path):
    args = _parse("--dicom-port", "11112", "--ae-title", " NODE1 ", "--dicom-allow", "US1",
                  "--dicom-allow", "US2", "--dicom-allow", "US1",
                  "--forward", "PACS@10.0.0.5:104", "--forward", "VNA@[::1]:11113",
                  "--dicom-overlay")
    settings = dicom_settings_from_args(args, tmp_path / "out")
    assert settings == DicomNodeSettings(
        port=11112, out_dir=tmp_path / "out", ae_title="NODE1", host="127.0.0.1",
        allowed_callers=("US1", "US2"), write_overlay=True,
        forward=(ForwardTarget("PACS", "10.0.0.5", 104), ForwardTarget("VNA", "::1", 11113)))
    assert str(settings.forward[1]) == "VNA@[::1]:11113"
    defaults = dicom_settings_from_args(_parse("--dicom-port", "0", "--dicom-allow", "X"), ".")
    assert (defaults.ae_title, defaults.write_overlay, defaults.forward) == ("SONOMTL", False, ())
    assert (defaults.max_associations, defaults.max_pdu_bytes) == (4, 65536)
    assert (defaults.acse_timeout_s, defaults.dimse_timeout_s,
            defaults.network_timeout_s) == (30.0, 60.0, 60.0)
    assert defaults.out_dir == Path(".")


def test_the_serve_commands_host_is_used(tmp_path):
    args = _parse("--dicom-port", "104", "--dicom-allow", "US1")
    args.host = "0.0.0.0"
    assert dicom_settings_from_args(args, tmp_path).host == "0.0.0.0"


@pytest.mark.parametrize(("argv", "flag", "words"), [
    (("--dicom-port", "11112"), "--dicom-allow", "at least one calling AE title"),
    (("--dicom-port", "70000", "--dicom-allow", "A"), "--dicom-port", "0..65535, got 70000"),
    (("--dicom-port", "1", "--dicom-allow", "A", "--ae-title", "X" * 17), "--ae-title",
     "1 to 16 printable ASCII"),
    (("--dicom-port", "1", "--dicom-allow", "BAD\\AE"), "--dicom-allow", "without a backslash"),
    (("--dicom-port", "1", "--dicom-allow", "   "), "--dicom-allow", "got '   '"),
    (("--dicom-port", "1", "--dicom-allow", "A", "--forward", "PACS:104"), "--forward",
     "expected AE@host:port, got 'PACS:104'"),
    (("--dicom-port", "1", "--dicom-allow", "A", "--forward", "P@h:0"), "--forward",
     "port must be a number in 1..65535, got '0'"),
    (("--dicom-port", "1", "--dicom-allow", "A", "--forward", "@h:104"), "--forward",
     "AE title of 1 to 16"),
])
def test_bad_values_are_refused_naming_the_flag(tmp_path, argv, flag, words):
    with pytest.raises(InputError) as caught:
        dicom_settings_from_args(_parse(*argv), tmp_path)
    assert caught.value.field == flag
    assert words in caught.value.message


@pytest.mark.parametrize(("changes", "words"), [
    ({"allowed_callers": ()}, "allowed_callers must name at least one"),
    ({"port": -1}, "port must be an integer in 0..65535"),
    ({"port": True}, "port must be an integer"),
    ({"max_associations": 0}, "max_associations must be a positive integer"),
    ({"max_pdu_bytes": 1.5}, "max_pdu_bytes must be a positive integer"),
    ({"dimse_timeout_s": 0}, "dimse_timeout_s must be a positive number of seconds"),
    ({"network_timeout_s": float("inf")}, "network_timeout_s must be a positive number"),
])
def test_settings_refuse_an_open_or_unbounded_node(tmp_path, changes, words):
    values = {"port": 0, "out_dir": tmp_path, "allowed_callers": ("A",), **changes}
    with pytest.raises(ValueError, match=words):
        DicomNodeSettings(**values)

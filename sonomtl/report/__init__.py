"""The HTML report: run and experiment folders -> one self-contained ``report.html``.

>>> from sonomtl.report import write_report
>>> write_report(["runs/msen"], out="runs/msen/report.html")  # doctest: +SKIP

Modules: :mod:`~sonomtl.report.sources` (reading folders),
:mod:`~sonomtl.report.tables` (results.json -> tables),
:mod:`~sonomtl.report.figures` (matplotlib figures),
:mod:`~sonomtl.report.html` (the document).
"""

from __future__ import annotations

from sonomtl.report.html import render_report, write_report
from sonomtl.report.sources import load_source

__all__ = ["render_report", "write_report", "load_source"]

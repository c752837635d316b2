"""``sonomtl serve``: models as an HTTP/WebSocket service, a web page, and a DICOM node.

Modules, one responsibility each (imported where used; ``import sonomtl.serve``
imports nothing heavy):

* :mod:`~sonomtl.serve.models`: ``MODEL`` arguments -> served models and their cards;
* :mod:`~sonomtl.serve.batching`: dynamic batching across clients, bounded queue;
* :mod:`~sonomtl.serve.results`: frames -> answers in ``predict``'s JSON-line schema;
* :mod:`~sonomtl.serve.schemas`: pydantic models of the answers (OpenAPI);
* :mod:`~sonomtl.serve.app`: the FastAPI app; :mod:`~sonomtl.serve.stream`: the WebSocket;
* :mod:`~sonomtl.serve.metrics`: Prometheus text format;
* :mod:`~sonomtl.serve.server`: load models, run uvicorn (what the CLI calls);
* ``static/``: the web page at ``/``;
* :mod:`~sonomtl.serve.dicom_node` (with ``dicom_settings``, ``dicom_sr``,
  ``dicom_forward``, ``dicom_cli``): the DICOM node (C-ECHO, C-STORE in,
  Comprehensive SR out, forwarding).
"""

from __future__ import annotations

__all__: list[str] = []

"""Serving models next to the scanner: the HTTP API and the DICOM node."""

__all__ = []

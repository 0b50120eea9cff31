"""Reports over case files and runs: what the manual documents and which cases cover it (``conformance coverage``)."""

from .coverage import CitationError, Coverage, DocumentedItem, coverage_main, load_documented

__all__ = ["CitationError", "Coverage", "DocumentedItem", "coverage_main", "load_documented"]

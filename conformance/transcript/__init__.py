"""Transcript layer: the case-file format, its parser (with source lines), the matcher and the diff.

Knows nothing of serial ports: it talks to a session.
"""

from .matcher import ActionTarget, Record, Runner
from .model import Case, Step, Timing
from .parser import parse_file, parse_text
from .template import Scope, Template, parse_template

__all__ = [
    "ActionTarget",
    "Case",
    "Record",
    "Runner",
    "Scope",
    "Step",
    "Template",
    "Timing",
    "parse_file",
    "parse_template",
    "parse_text",
]

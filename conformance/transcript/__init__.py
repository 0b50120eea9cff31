"""Transcript layer: the case-file format (1.1), its parser (with source lines), shared blocks, the matcher and the
diff.

Knows nothing of serial ports: it talks to a session.
"""

from .blocks import BlockLibrary, check_blocks_file, is_blocks_file
from .matcher import ActionTarget, Record, Runner
from .model import Case, Step, Timing
from .parser import FORMAT_VERSION, parse_file, parse_text
from .template import Scope, Template, parse_template

__all__ = [
    "FORMAT_VERSION",
    "ActionTarget",
    "BlockLibrary",
    "Case",
    "Record",
    "Runner",
    "Scope",
    "Step",
    "Template",
    "Timing",
    "check_blocks_file",
    "is_blocks_file",
    "parse_file",
    "parse_template",
    "parse_text",
]

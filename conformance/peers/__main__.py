"""``python -m conformance.peers serve --bind ADDR --token-file F ...`` (same as ``conformance peers serve``)."""

from __future__ import annotations

import sys

from .remote import serve_main

if __name__ == "__main__":
    sys.exit(serve_main(sys.argv[1:]))

"""Root conftest: the plugin itself comes through the pytest11 entry point (pip install -e .).

The peers and network faults live inside the package (conformance/peers, conformance/network) and their fixtures in
conformance/plugin/capabilities.py, which the plugin loads: a top-level package named `fixtures` would collide with
the PyPI package of that name.
"""

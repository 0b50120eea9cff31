"""From one bench to a lab: modules reached over the network (ser2net, RFC 2217), labgrid places with their power
switches, and an inventory of modules shared out among pytest-xdist workers, one module per worker.

See docs/lab.md.
"""

"""Conformance and regression suite for Quectel cellular modules' TCP/IP AT commands."""

__version__ = "0.1.0"

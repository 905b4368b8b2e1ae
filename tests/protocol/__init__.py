"""Tests of the protocol layer (no Home Assistant)."""

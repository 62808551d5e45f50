"""Cluster DNS: `python -m addons.dns` (see addons/dns/main.py)."""

"""Cluster add-ons that run as ordinary processes or workloads."""

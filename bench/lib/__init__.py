"""Helpers of the benchmark scripts (bench/*.py); never imported by shipped code."""

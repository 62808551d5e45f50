"""Benchmarks: each bench/*.py is a script with a `main()`; bench/lib/ holds what they share."""

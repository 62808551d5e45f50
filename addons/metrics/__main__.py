"""`python -m addons.metrics`."""

from addons.metrics.main import main

main()

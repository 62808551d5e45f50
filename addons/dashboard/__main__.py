"""`python -m addons.dashboard`."""

from addons.dashboard.main import main

main()

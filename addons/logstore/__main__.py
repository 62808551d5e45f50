"""`python -m addons.logstore`."""

from addons.logstore.main import main

main()

"""`python -m addons.dns`."""

from addons.dns.main import main

main()

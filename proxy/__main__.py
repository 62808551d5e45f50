"""`python -m proxy`."""

from proxy.main import main

main()

"""`python -m addons.logagent`."""

from addons.logagent.main import main

main()

"""Entry point: `python -m scheduler` (see scheduler.main)."""

from scheduler.main import main

main()

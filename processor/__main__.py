"""`python -m processor` runs the `vproc` command line."""

from processor.cli import main

main()

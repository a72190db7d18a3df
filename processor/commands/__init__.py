"""Implementations of the `vproc` subcommands; processor.cli registers them."""

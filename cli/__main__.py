"""`python -m cli`: the same as the `firstline` entry point."""

from cli import main

main()

"""`python -m emoreason` runs the CLI (also what `accelerate launch -m emoreason` uses)."""

from emoreason.cli import main

main()

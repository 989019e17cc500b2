"""``python -m syndication`` runs the CLI."""

from syndication.cli import main

main()

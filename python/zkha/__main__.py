"""``python -m zkha`` runs the CLI."""

from .cli import main

raise SystemExit(main())

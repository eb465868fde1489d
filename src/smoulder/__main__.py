"""``python -m smoulder``."""

from smoulder.cli import main

raise SystemExit(main())

"""`python -m routeweave.evals.routing ...` = `routeweave eval routing ...`."""

from .cli import main

raise SystemExit(main())

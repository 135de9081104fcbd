"""The Router-R1 graph's own prompt, protocol and grammar, imported in one place so that trajectories
are built by the very functions the graph calls (one source of truth). After the layout refactor these
are `routeweave.graphs.router_r1.{prompt,protocol,grammar}`: change the import below, nothing else."""

from __future__ import annotations

from routeweave.agents import grammar, protocol  # noqa: F401
from routeweave.agents import router_prompt as prompt  # noqa: F401

"""The Router-R1 graph's own prompt, protocol, grammar, reply aggregation and retriever, imported in
one place so that trajectories are built by the very functions the graph calls (one source of truth).
After the layout refactor these live under `routeweave.graphs.router_r1`: change the imports below."""

from __future__ import annotations

from routeweave.agents import grammar, protocol  # noqa: F401
from routeweave.agents.adapters import prompt_version  # noqa: F401
from routeweave.agents import router_prompt as prompt  # noqa: F401
from routeweave.agents.pool import Expert, Price, load_pool  # noqa: F401
from routeweave.agents.retrieval import format_passages, open_retriever, read_corpus, resolve_corpus  # noqa: F401
from routeweave.graphs.aggregate import get_aggregator  # noqa: F401
from routeweave.graphs.r1_nodes import REPLY_CHARS  # noqa: F401

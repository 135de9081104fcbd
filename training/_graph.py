"""The Router-R1 graph's own prompt, protocol, grammar, reply aggregation and retriever, imported in
one place so that trajectories are built by the very functions the graph calls (one source of truth)."""

from __future__ import annotations

from routeweave.agents.bm25 import open_retriever, read_corpus, resolve_corpus  # noqa: F401
from routeweave.agents.experts import expert_kinds  # noqa: F401
from routeweave.agents.experts.retrieval import reply_text  # noqa: F401
from routeweave.agents.pool import Expert, load_pool  # noqa: F401
from routeweave.agents.settings import Price  # noqa: F401
from routeweave.graphs.router_r1 import grammar, protocol  # noqa: F401
from routeweave.graphs.router_r1 import prompt  # noqa: F401
from routeweave.graphs.router_r1.aggregate import get_aggregator  # noqa: F401
from routeweave.agents.experts.base import REPLY_CHARS  # noqa: F401
from routeweave.graphs.router_r1.prompt import prompt_version  # noqa: F401

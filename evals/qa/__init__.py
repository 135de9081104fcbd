"""Multi-hop QA evaluation runs."""

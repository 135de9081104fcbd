"""The embedder really embeds, offline: no network, model files from the installed wordllama package."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap


def test_wordllama_embeds_offline():
    code = textwrap.dedent("""
        import socket
        def _no_network(*a, **k):
            raise RuntimeError("network access attempted")
        socket.socket.connect = _no_network
        socket.create_connection = _no_network
        import numpy as np
        from routeweave.policies.embed import WordLlamaEmbedder
        e = WordLlamaEmbedder()
        v = e.embed(["What is the capital of France?", "Which city is France's capital?", "Integrate x^2 dx"])
        assert v.shape == (3, 256) and v.dtype == np.float32, v.shape
        assert np.allclose(np.linalg.norm(v, axis=1), 1, atol=1e-4)
        assert v[0] @ v[1] > v[0] @ v[2]
        again = e.embed(["Integrate x^2 dx"])
        assert np.array_equal(again[0], v[2]) and e.cache_size() == 3
        print("ok")
    """)
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
           "HOME": "/nonexistent-home-for-test"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"


def test_loading_the_embedder_leaves_the_applications_logging_alone():
    """wordllama calls logging.basicConfig(level=INFO) at import: every library's INFO lines then printed
    (gguf's writer in `fit`, LiteLLM's in `serve`)."""
    code = textwrap.dedent("""
        import logging
        from routeweave.policies.embed import WordLlamaEmbedder
        WordLlamaEmbedder().embed(["a question"])
        logging.getLogger("gguf.gguf_writer").info("an INFO line nobody asked for")
        logging.getLogger("app").warning("a warning still shows")
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "nobody asked for" not in out.stderr and "a warning still shows" in out.stderr


def test_loading_minilm_prints_no_progress_bar():
    from routeweave.policies.minilm import extra_installed

    if not extra_installed("bert"):
        import pytest

        pytest.skip("the 'bert' extra is not installed (pip install -e \".[bert]\")")
    code = "from routeweave.policies.minilm import load_minilm; load_minilm()"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and "Loading weights" not in out.stderr, out.stderr[-500:]

"""How `train check` reads llama.cpp's /completion replies (fault injection with a real HTTP server): a
position without a probability counts as a disagreement, an error reply stops the check with the prefix
length, a normal reply gives the top-1 token and its log-probability."""

from __future__ import annotations

import json
import math
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from routeweave.training.agreement import _llama_top1

REPLIES = {
    "ok": {"completion_probabilities": [{"top_logprobs": [{"id": 42, "logprob": -0.25}]}]},
    "no-probability": {"completion_probabilities": [{"top_logprobs": []}], "content": "x"},
    "empty": {"content": "x"},
    "error": {"error": {"code": 400, "message": "the request exceeds the available context size"}},
}


@pytest.fixture
def llama_like():
    seen = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            seen.append(body)
            data = json.dumps(REPLIES[self.server.mode]).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *a):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server, f"http://127.0.0.1:{server.server_address[1]}", seen
    server.shutdown()


def test_a_normal_reply_gives_the_top1_and_asks_for_the_adapter_scale(llama_like):
    server, url, seen = llama_like
    server.mode = "ok"
    assert _llama_top1(url, [1, 2, 3], 0.0) == (42, -0.25)
    assert seen[-1]["prompt"] == [1, 2, 3] and seen[-1]["lora"] == [{"id": 0, "scale": 0.0}] and seen[-1]["n_probs"] == 1


@pytest.mark.parametrize("mode", ["no-probability", "empty"])
def test_a_position_without_a_probability_is_a_disagreement_not_a_crash(llama_like, mode):
    server, url, _ = llama_like
    server.mode = mode
    token, logprob = _llama_top1(url, [5] * 7, 1.0)
    assert token is None and math.isnan(logprob)


def test_an_error_reply_names_the_prefix_length(llama_like):
    server, url, _ = llama_like
    server.mode = "error"
    with pytest.raises(RuntimeError, match="refused a 9-token prefix.*context size"):
        _llama_top1(url, [5] * 9, 1.0)

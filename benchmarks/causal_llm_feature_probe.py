"""Where causal_llm's decision time goes: llama.cpp embeddings of the router GGUF's first k blocks for one
query, by depth and by query length (persistent server, 2 threads, 15 calls each after a warm-up).

    python benchmarks/causal_llm_feature_probe.py [--threads 2]

Run it on a quiet machine; it does not take the CPU lock itself, so wrap it:
`flock /tmp/routeweave-cpu.lock python benchmarks/causal_llm_feature_probe.py`."""

from __future__ import annotations

import argparse
import statistics
import time

from routeweave.agents.features import LlamaFeatures

Q = ("Natalia sold clips to 48 of her friends in April, and then she sold half as many clips in May. "
     "How many clips did Natalia sell altogether in April and May?")


def p50_ms(layers: int, text: str, threads: int, max_tokens: int = 512, calls: int = 15) -> float:
    f = LlamaFeatures(layers=layers, threads=threads, max_tokens=max_tokens, persistent=True)
    try:
        f.embed([text])
        ts = []
        for i in range(calls):
            t = time.perf_counter()
            f.embed([f"{text} {i}"])
            ts.append((time.perf_counter() - t) * 1000)
        return statistics.median(ts)
    finally:
        f.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    print("| blocks | query | n_ctx | p50 ms |\n|---:|---|---:|---:|")
    for layers, text, label, mt in ((1, Q, "GSM8K-like, 155 chars", 512), (4, Q, "GSM8K-like, 155 chars", 512),
                                    (4, Q, "GSM8K-like, 155 chars", 64), (4, "Natalia sold clips.", "19 chars", 512),
                                    (4, Q + " " + Q, "the same twice, 311 chars", 512)):
        print(f"| {layers} | {label} | {mt * 4} | {p50_ms(layers, text, args.threads, mt):.1f} |", flush=True)


if __name__ == "__main__":
    main()

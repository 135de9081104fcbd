"""LoRA adapters on the embedded llama.cpp server: which file, and is it fit to serve?

A trained router adapter (GGUF, written by `routeweave train`) records the base model's sha256 and
the router prompt's version. Before a server loads it, `check_adapter` reads those keys from the GGUF
header (a few hundred bytes; no `gguf` package needed at run time) and refuses an adapter built for
another base model or another prompt, saying which file and which field."""

from __future__ import annotations

import functools
import hashlib
import struct
from pathlib import Path

GGUF_MAGIC = b"GGUF"
_SCALARS = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?", 10: "<Q", 11: "<q", 12: "<d"}


class AdapterError(ValueError):
    """An adapter that cannot be served; the message names the file and the field."""


def _read(f, fmt: str):
    size = struct.calcsize(fmt)
    data = f.read(size)
    if len(data) != size:
        raise EOFError
    return struct.unpack(fmt, data)[0]


def _value(f, kind: int):
    if kind == 8:
        return f.read(_read(f, "<Q")).decode("utf-8", "replace")
    if kind == 9:
        item, n = _read(f, "<I"), _read(f, "<Q")
        return [_value(f, item) for _ in range(n)]
    if kind not in _SCALARS:
        raise ValueError(f"unknown GGUF value type {kind}")
    return _read(f, _SCALARS[kind])


def gguf_metadata(path: Path) -> dict[str, object]:
    """The key/value header of a GGUF file."""
    try:
        with Path(path).open("rb") as f:
            if f.read(4) != GGUF_MAGIC:
                raise AdapterError(f"adapter file {path} is not a GGUF file (no GGUF magic)")
            _read(f, "<I")  # version
            _read(f, "<Q")  # tensor count
            return {f.read(_read(f, "<Q")).decode(): _value(f, _read(f, "<I")) for _ in range(_read(f, "<Q"))}
    except (EOFError, ValueError, UnicodeDecodeError) as exc:
        if isinstance(exc, AdapterError):
            raise
        raise AdapterError(f"adapter file {path} has a truncated or unreadable GGUF header ({exc})") from None


@functools.lru_cache(maxsize=8)
def _sha256(path: str, mtime_ns: int, size: int) -> str:
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def file_sha256(path: Path) -> str:
    st = Path(path).stat()
    return _sha256(str(Path(path).resolve()), st.st_mtime_ns, st.st_size)


def prompt_version() -> str:
    """A short hash of what the router sees and must write: the prompt functions rendered on a fixed
    example, and the grammar. Any change to their wording changes it; an adapter trained on another
    version is refused."""
    from .grammar import router_grammar
    from .pool import Expert, Price
    from .router_prompt import information_message, question_message, status_line, system_prompt

    experts = [
        Expert(name="Alpha", kind="retrieval", corpus="builtin:hotpotqa", description="d1"),
        Expert(name="Beta", model="openai/x", description="d2", price=Price(input_per_m=1.0, output_per_m=2.0)),
    ]
    parts = [
        system_prompt(experts, budget_usd=0.005, max_rounds=3),
        str(question_message("Q?")),
        str(information_message([("Alpha: q", "text")], status=status_line(budget_left_usd=0.004, rounds_left=1, must_answer=False))),
        status_line(budget_left_usd=0.0, rounds_left=0, must_answer=True),
        router_grammar(["Alpha", "Beta"], can_search=True, max_searches=2),
    ]
    return hashlib.sha256("\x00".join(parts).encode()).hexdigest()[:12]


def check_adapter(adapter: Path, base: Path, *, name: str = "adapter") -> dict[str, object]:
    """Refuse an adapter that is no LoRA, or was trained for another base model or prompt version."""
    meta = gguf_metadata(adapter)
    if meta.get("general.type") != "adapter" or meta.get("adapter.type") != "lora":
        raise AdapterError(f"adapter '{name}' ({adapter}): field 'general.type' / 'adapter.type' is not adapter/lora")
    want_base = meta.get("routeweave.base_sha256")
    if want_base and want_base != file_sha256(base):
        raise AdapterError(
            f"adapter '{name}' ({adapter}): field 'routeweave.base_sha256' says it was trained on another base model "
            f"({meta.get('routeweave.base_file', '?')}), not {base.name}; retrain it with `routeweave train`")
    version = meta.get("routeweave.prompt_version")
    if version and version != prompt_version():
        raise AdapterError(
            f"adapter '{name}' ({adapter}): field 'routeweave.prompt_version' is {version}, but the router prompt is now "
            f"{prompt_version()}; the router's prompt changed since it was trained: retrain it with `routeweave train`")
    return meta

"""LoRA adapters on the embedded llama.cpp server: which file, and is it fit to serve?

A trained router adapter (GGUF, written by `routeweave train`) records the base model's sha256 and
the router prompt's version. Before a server loads it, `check_adapter` reads those keys from the GGUF
header (a few hundred bytes; no `gguf` package needed at run time) and refuses an adapter built for
another base model, saying which file and which field. The prompt version is the Router-R1 graph's to
check (routeweave.graphs.router_r1.prompt.prompt_version): agents do not know the router's prompt."""

from __future__ import annotations

import functools
import hashlib
import struct
from pathlib import Path

from .errors import ConfigError

GGUF_MAGIC = b"GGUF"
_SCALARS = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?", 10: "<Q", 11: "<q", 12: "<d"}


class AdapterError(ConfigError):
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


def check_adapter(adapter: Path, base: Path, *, name: str = "adapter", prompt_version: str | None = None) -> dict[str, object]:
    """Refuse an adapter that is no LoRA, or was trained for another base model (or, when the caller says
    which, another version of the prompt it will be served with)."""
    meta = gguf_metadata(adapter)
    if meta.get("general.type") != "adapter" or meta.get("adapter.type") != "lora":
        raise AdapterError(f"adapter '{name}' ({adapter}): field 'general.type' / 'adapter.type' is not adapter/lora")
    want_base = meta.get("routeweave.base_sha256")
    if want_base and want_base != file_sha256(base):
        raise AdapterError(
            f"adapter '{name}' ({adapter}): field 'routeweave.base_sha256' says it was trained on another base model "
            f"({meta.get('routeweave.base_file', '?')}), not {base.name}; retrain it with `routeweave train`")
    version = meta.get("routeweave.prompt_version")
    if prompt_version and version and version != prompt_version:
        raise AdapterError(
            f"adapter '{name}' ({adapter}): field 'routeweave.prompt_version' is {version}, but the router prompt is now "
            f"{prompt_version}; the router's prompt changed since it was trained: retrain it with `routeweave train`")
    return meta

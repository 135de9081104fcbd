"""Where the named QA datasets live: the shared data's files and the named splits of them.

Named datasets -> file under the data dir (the closest match to Router-R1's evaluation sets that the
shared data offers: FlashRAG test questions, official dev questions) and rows:

- ``nq``              nq/test_subsample1000.jsonl (1,000) -- FlashRAG NQ-open test, seeded subsample, aliases
- ``triviaqa``        triviaqa/test_subsample1000.jsonl (1,000) -- FlashRAG TriviaQA test subsample, aliases
- ``popqa``           popqa/test_subsample1000.jsonl (1,000) -- FlashRAG PopQA test subsample, aliases
- ``hotpotqa``        hotpotqa/dev_distractor_sample500_with_context.jsonl (500) -- random official dev
  (distractor) questions with their 10 paragraphs; the shipped retrieval corpus is built from them
- ``2wikimultihopqa`` 2wikimultihopqa/dev_full12576_qa.json (12,576) -- the full official dev set
  (Router-R1's sampling pool), one canonical answer; the alias file dev_first1000_with_aliases.json
  (first 1,000 dev questions) loads by path
- ``musique``         musique/musique_ans_dev_full2417_qa.json (2,417) -- full MuSiQue-Ans dev, one answer

Named splits of a file (1-based line ranges, inclusive):

- ``hotpotqa-heldout`` lines 351-500 of the HotpotQA sample (150): the router-training test set; they never
  enter training (``routeweave train`` reads lines 1-350 only)
- ``hotpotqa-train``   lines 1-350 (350): the router-training questions; a figure on ``hotpotqa`` includes them

The data folder is ``$ROUTEWEAVE_DATA_DIR``, else ``../shared/data`` (see `default_data_dir`).

A dataset's label (``Example.dataset``, the key of its rows in the results DB) is its name above, or for
any other file the file name with its suffix (``my/nq.jsonl`` -> ``nq.jsonl``), so a user's file is never
taken for a benchmark of the same name. Runs stored before this labelled a file by its stem (``nq``);
`resolve_datasets` keeps that label when resuming such a run."""

from __future__ import annotations

import os
from pathlib import Path

StrPath = str | os.PathLike[str]
DATA_DIR_ENV = "ROUTEWEAVE_DATA_DIR"
DATASET_FILES: dict[str, str] = {
    "nq": "nq/test_subsample1000.jsonl",
    "triviaqa": "triviaqa/test_subsample1000.jsonl",
    "popqa": "popqa/test_subsample1000.jsonl",
    "hotpotqa": "hotpotqa/dev_distractor_sample500_with_context.jsonl",
    "2wikimultihopqa": "2wikimultihopqa/dev_full12576_qa.json",
    "musique": "musique/musique_ans_dev_full2417_qa.json",
}

DATASET_SPLITS: dict[str, tuple[str, int, int]] = {  # name -> (dataset, first line, last line)
    "hotpotqa-heldout": ("hotpotqa", 351, 500),
    "hotpotqa-train": ("hotpotqa", 1, 350),
}


def default_data_dir() -> Path:
    """``$ROUTEWEAVE_DATA_DIR``, else ``../shared/data`` from the working directory if it exists, else
    ``../shared/data`` next to the repository."""
    if env := os.environ.get(DATA_DIR_ENV):
        return Path(env)
    cwd_dir = Path.cwd().parent / "shared" / "data"
    if cwd_dir.is_dir():
        return cwd_dir
    here = Path(__file__).resolve()
    repo = next((p for p in here.parents if (p / "pyproject.toml").is_file()), here.parents[2])
    return repo.parent / "shared" / "data"


def resolve_dataset(name_or_path: StrPath, data_dir: StrPath | None = None) -> tuple[str, Path]:
    """(dataset label, file) for a dataset name or a file path."""
    key = str(name_or_path)
    if key.lower() in DATASET_SPLITS:
        _, path = resolve_dataset(DATASET_SPLITS[key.lower()][0], data_dir)
        return key.lower(), path
    if key.lower() in DATASET_FILES:
        base = Path(data_dir) if data_dir is not None else default_data_dir()
        path = base / DATASET_FILES[key.lower()]
        if not path.is_file():
            raise FileNotFoundError(
                f"dataset {key!r}: {path} not found; pass data_dir= or set {DATA_DIR_ENV} to the folder "
                "holding nq/, hotpotqa/, ..."
            )
        return key.lower(), path
    path = Path(name_or_path)
    if path.is_file():
        if path.name.lower() in (*DATASET_FILES, *DATASET_SPLITS):
            raise ValueError(f"{path}: a file named like the catalog dataset {path.name.lower()!r} would be taken for it; "
                             f"rename it with its suffix, e.g. {path.name}.jsonl")
        return path.name, path
    if path.suffix or os.sep in key or "/" in key:
        raise FileNotFoundError(f"no such dataset file: {path}")
    raise ValueError(
        f"unknown dataset {key!r}; known names: {', '.join([*DATASET_FILES, *DATASET_SPLITS])}. "
        "A path to a FlashRAG/HotpotQA/2Wiki/MuSiQue .json or .jsonl file works too."
    )


def resolve_datasets(names: list[str], data_dir: StrPath | None = None, *,
                     stored: list[str] | None = None) -> list[tuple[str, Path]]:
    """(label, file) of each of a run's datasets; two with one label are refused (a run keys its results by
    (dataset label, question id), so their questions would overwrite each other). ``stored``: the dataset
    labels of the run being resumed; a file it stored under its stem (the label before file names) keeps it."""
    out: list[tuple[str, Path]] = []
    for name in names:
        label, path = resolve_dataset(name, data_dir)
        if stored and label == path.name and label not in stored and path.stem in stored:  # a file, stored by stem
            label = path.stem
        for (other_label, other), other_name in zip(out, names):
            if other_label != label:
                continue
            if other.resolve() == path.resolve():
                raise ValueError(f"--dataset names {path} twice ({other_name!r} and {name!r}); list it once")
            raise ValueError(
                f"--dataset {other_name!r} ({other}) and {name!r} ({path}) would both be labelled {label!r}, and a "
                "run keys its results by dataset label and question id, so their questions would overwrite each "
                "other; rename or copy one of the files to another file name, or evaluate them in separate --run's")
        out.append((label, path))
    return out

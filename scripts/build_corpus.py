"""Build the shipped retrieval corpus: unique Wikipedia paragraphs from the HotpotQA dev sample.

Reads the HotpotQA distractor-setting JSONL (one question per line, each with its 10 context
paragraphs: 2 gold + 8 distractors; see SOURCE.md beside it) and writes

    agents/data/hotpotqa_corpus.jsonl.gz   one {"title": ..., "text": ...} per unique paragraph
    agents/data/ATTRIBUTION.md             where the paragraphs come from, licence, how built

A paragraph's text is its sentences joined as HotpotQA stores them (each non-first sentence keeps
its leading space). Rows are de-duplicated by (title, text) and sorted by (title, text); the gzip
header has no name or timestamp, so the output is byte-for-byte reproducible.

Usage (from the repo root):  python scripts/build_corpus.py [--source PATH] [--out-dir DIR]
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import io
import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DEFAULT_SOURCE = Path("../shared/data/hotpotqa/dev_distractor_sample500_with_context.jsonl")
CORPUS_NAME = "hotpotqa_corpus.jsonl.gz"


def read_paragraphs(source: Path) -> tuple[list[tuple[str, str]], int]:
    """Return the unique (title, text) paragraphs, sorted, and the number of questions read."""
    seen: set[tuple[str, str]] = set()
    questions = 0
    with source.open(encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
                context = row["context"]
                pairs = list(zip(context["title"], context["sentences"], strict=True))
            except (json.JSONDecodeError, KeyError, TypeError, ValueError) as e:
                raise SystemExit(f"{source}:{lineno}: not a HotpotQA row with context ({e})") from e
            questions += 1
            for title, sentences in pairs:
                text = "".join(sentences).strip()
                if title.strip() and text:
                    seen.add((title.strip(), text))
    return sorted(seen), questions


def write_corpus(paragraphs: list[tuple[str, str]], path: Path) -> bytes:
    buf = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=buf, compresslevel=9, mtime=0) as gz:
        for title, text in paragraphs:
            gz.write((json.dumps({"title": title, "text": text}, ensure_ascii=False) + "\n").encode())
    data = buf.getvalue()
    path.write_bytes(data)
    return data


ATTRIBUTION = """\
# Attribution: `hotpotqa_corpus.jsonl.gz`

The retrieval expert's built-in corpus (`builtin:hotpotqa`) is {n:,} unique English Wikipedia
paragraphs taken from the context paragraphs of {q} HotpotQA questions.

- **Dataset**: HotpotQA — Zhilin Yang, Peng Qi, Saizheng Zhang, Yoshua Bengio, William W. Cohen,
  Ruslan Salakhutdinov, Christopher D. Manning. "HotpotQA: A Dataset for Diverse, Explainable
  Multi-hop Question Answering", EMNLP 2018. https://hotpotqa.github.io/
- **Licence**: CC BY-SA 4.0 (https://creativecommons.org/licenses/by-sa/4.0/), HotpotQA's licence.
  The paragraph text itself is from **Wikipedia** (CC BY-SA), as processed by the HotpotQA authors.
  This file is a derivative (paragraphs extracted, de-duplicated, reordered) and is distributed
  under the same licence.
- **Source file**: `{source_name}` — 500 random rows of the official HotpotQA dev (distractor)
  split, as published by megagonlabs/RPT (`data/hotpotqa/test.jsonl`, commit
  `cf2bc1b1b4edd0318b84179e732ec476c4e20a6e`).
  sha256 `{source_sha}` ({source_bytes:,} bytes).
- **How built**: `python scripts/build_corpus.py` — every question's context paragraphs (2 gold +
  8 distractors), each paragraph's sentences joined as stored, de-duplicated by (title, text),
  sorted by (title, text), one `{{"title": ..., "text": ...}}` JSON object per line, gzip.
- **Output**: {n:,} paragraphs, {out_bytes:,} bytes gzipped ({raw_bytes:,} bytes uncompressed),
  sha256 `{out_sha}`.

Note: these are the questions' own context paragraphs, so retrieval over this corpus is easier than
open-domain retrieval over all of Wikipedia. Questions from the same sample may be used to test
and benchmark retrieval, not as a held-out QA evaluation of it.
"""


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--source", type=Path, default=None, help=f"default: {DEFAULT_SOURCE} (repo-relative)")
    ap.add_argument("--out-dir", type=Path, default=REPO / "agents" / "data")
    args = ap.parse_args(argv)
    source: Path = args.source if args.source is not None else REPO / DEFAULT_SOURCE
    if not source.is_file():
        print(f"error: source file not found: {source} (pass --source PATH)", file=sys.stderr)
        return 2

    raw = source.read_bytes()
    paragraphs, questions = read_paragraphs(source)
    args.out_dir.mkdir(parents=True, exist_ok=True)
    out = write_corpus(paragraphs, args.out_dir / CORPUS_NAME)
    raw_bytes = sum(len(json.dumps({"title": t, "text": x}, ensure_ascii=False).encode()) + 1 for t, x in paragraphs)
    (args.out_dir / "ATTRIBUTION.md").write_text(
        ATTRIBUTION.format(
            n=len(paragraphs),
            q=questions,
            source_name=source.name,
            source_sha=hashlib.sha256(raw).hexdigest(),
            source_bytes=len(raw),
            out_bytes=len(out),
            raw_bytes=raw_bytes,
            out_sha=hashlib.sha256(out).hexdigest(),
        ),
        encoding="utf-8",
    )
    print(f"{len(paragraphs)} paragraphs from {questions} questions -> {CORPUS_NAME} ({len(out):,} bytes)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

#!/usr/bin/env bash
# GPU smoke check: start `vllm serve` with a small model, wait until it is healthy, answer one question
# with `routeweave ask --pool ...` whose router and LLM expert are that server, then stop it.
#
#   pip install -e ".[vllm]"                 # on a CUDA machine, in the project's venv
#   bash scripts/gpu_check.sh                # or: MODEL=Qwen/Qwen2.5-3B-Instruct PORT=8011 bash scripts/gpu_check.sh
#
# Env: MODEL (default Qwen/Qwen2.5-0.5B-Instruct), PORT (8011), GPU_MEM (0.5: fraction of GPU memory
# vLLM may take), MAX_LEN (4096), WAIT_S (600: how long to wait for the model to load), QUESTION.
# Exit 0 when the answer came back and the session ended normally; the server is stopped in every case.
# The model is downloaded by vLLM from its hub unless it is already in the local cache.
set -euo pipefail

MODEL="${MODEL:-Qwen/Qwen2.5-0.5B-Instruct}"
PORT="${PORT:-8011}"
GPU_MEM="${GPU_MEM:-0.5}"
MAX_LEN="${MAX_LEN:-4096}"
WAIT_S="${WAIT_S:-600}"
QUESTION="${QUESTION:-Between Harvey Pekar and Denise Levertov who was born earlier?}"
API_BASE="http://127.0.0.1:${PORT}/v1"

command -v vllm >/dev/null || { echo "gpu_check: vllm is not installed (pip install -e \".[vllm]\")" >&2; exit 2; }
command -v routeweave >/dev/null || { echo "gpu_check: routeweave is not installed (pip install -e .)" >&2; exit 2; }
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,memory.total --format=csv,noheader

WORK="$(mktemp -d -t routeweave-gpu-XXXXXX)"
VLLM_PID=""
cleanup() {
  if [ -n "$VLLM_PID" ] && kill -0 "$VLLM_PID" 2>/dev/null; then
    kill "$VLLM_PID"
    for _ in $(seq 1 30); do kill -0 "$VLLM_PID" 2>/dev/null || break; sleep 1; done
    kill -9 "$VLLM_PID" 2>/dev/null || true
    wait "$VLLM_PID" 2>/dev/null || true
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT

# A key for this run only, so nothing else on the machine can use the server meanwhile.
VLLM_API_KEY="gpu-check-$RANDOM$RANDOM"
export VLLM_API_KEY

echo "gpu_check: starting vllm serve $MODEL on 127.0.0.1:$PORT (log: $WORK/vllm.log)"
vllm serve "$MODEL" --host 127.0.0.1 --port "$PORT" --api-key "$VLLM_API_KEY" \
  --gpu-memory-utilization "$GPU_MEM" --max-model-len "$MAX_LEN" >"$WORK/vllm.log" 2>&1 &
VLLM_PID=$!

deadline=$((SECONDS + WAIT_S))
until curl -fsS "http://127.0.0.1:${PORT}/health" >/dev/null 2>&1; do
  if ! kill -0 "$VLLM_PID" 2>/dev/null; then
    echo "gpu_check: vllm serve exited before it was healthy; last lines of its log:" >&2
    tail -n 40 "$WORK/vllm.log" >&2
    exit 1
  fi
  if [ "$SECONDS" -ge "$deadline" ]; then
    echo "gpu_check: vllm serve not healthy after ${WAIT_S}s; last lines of its log:" >&2
    tail -n 40 "$WORK/vllm.log" >&2
    exit 1
  fi
  sleep 2
done
echo "gpu_check: vllm is healthy after ${SECONDS}s"

# The pool: the small model is both the router and an LLM expert (as the embedded default does with
# SmolLM2), beside the built-in BM25 retriever. The key is read from the env var, never written here.
cat >"$WORK/pool.toml" <<EOF
[router]
model = "hosted_vllm/${MODEL}"
api_base = "${API_BASE}"
api_key_env = "VLLM_API_KEY"
grammar = false
price = { input_per_m = 0.10, output_per_m = 0.10 }
max_tokens = 256

[limits]
budget_usd = 0.01
max_rounds = 3
max_searches_per_turn = 1

[[experts]]
name = "Wiki"
kind = "retrieval"
corpus = "builtin:hotpotqa"
description = "Searches Wikipedia paragraphs (BM25); best for names, dates and facts."

[[experts]]
name = "SmallLM"
model = "hosted_vllm/${MODEL}"
api_base = "${API_BASE}"
api_key_env = "VLLM_API_KEY"
price = { input_per_m = 0.10, output_per_m = 0.10 }
description = "A small general model on the GPU."
max_tokens = 256
timeout = 120
EOF

echo "gpu_check: routeweave ask --pool $WORK/pool.toml"
routeweave ask "$QUESTION" --pool "$WORK/pool.toml" --db "$WORK/routeweave.db" --json >"$WORK/answer.json"
python3 - "$WORK/answer.json" <<'EOF'
import json, sys
result = json.load(open(sys.argv[1]))
print(f"answer: {result['answer']!r}")
print(f"stop: {result['stop_reason']}  rounds: {result['rounds']}  expert calls: {sum(s['kind'] == 'route' for s in result['steps'])}"
      f"  cost: ${result['cost_usd']:.6f}  session: {result['session_id']}")
errors = [s["error"] for s in result["steps"] if s.get("error")]
if errors:
    print("step errors:", *errors, sep="\n  ")
ok = bool(result["answer"].strip()) and result["stop_reason"] in ("answered", "budget")
sys.exit(0 if ok else 1)
EOF
echo "gpu_check: ok"

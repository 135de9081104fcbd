#!/usr/bin/env bash
# GPU recipe (documented, not run on the CPU-only machines): train a Qwen2.5-3B-Instruct router with the
# same `routeweave train` stages as the CPU recipe, with vLLM serving the router during GRPO rollouts.
#
#   pip install torch && pip install -e ".[train,vllm]"      # on a CUDA machine
#   bash scripts/train_gpu.sh                                 # or: BASE=Qwen/Qwen2.5-7B-Instruct bash scripts/train_gpu.sh
#
# Env: BASE (Qwen/Qwen2.5-3B-Instruct), WORK (./train-gpu), PORT (8001, the router's vLLM server),
# GPU_MEM (0.35: vLLM's share of the GPU; the trainer uses the rest), ALPHA (0.2), STEPS (200), WAIT_S (600).
# What happens:
#   1. `routeweave train data`  the same trajectories as on CPU (the prompt is the graph's own);
#   2. `routeweave train sft --base $BASE`  LoRA SFT in bfloat16 on the GPU, epoch by epoch as `train all`
#      does on CPU (one epoch, then a second resumed from it: SFT_EPOCHS in training/cli.py);
#   3. vLLM serves $BASE with --enable-lora and runtime LoRA loading; each GRPO step loads the current
#      adapter under a new name (/v1/load_lora_adapter) and the real graph runs its sessions against it
#      (pool: agents/pools/vllm.toml with the router on $PORT; the experts as that pool says);
#   4. `routeweave train grpo --base $BASE --pool POOL`; the PEFT adapter it writes is what
#      `vllm serve $BASE --enable-lora --lora-modules router=WORK/grpo-a$ALPHA/adapter` serves.
# The base model and the experts are downloaded by vLLM/transformers from their hub unless cached.
set -euo pipefail

BASE="${BASE:-Qwen/Qwen2.5-3B-Instruct}"
WORK="${WORK:-./train-gpu}"
PORT="${PORT:-8001}"
GPU_MEM="${GPU_MEM:-0.35}"
ALPHA="${ALPHA:-0.2}"
STEPS="${STEPS:-200}"
WAIT_S="${WAIT_S:-600}"

command -v vllm >/dev/null || { echo "train_gpu: vllm is not installed (pip install -e \".[train,vllm]\")" >&2; exit 2; }
command -v nvidia-smi >/dev/null || { echo "train_gpu: no nvidia-smi: this script needs a CUDA GPU" >&2; exit 2; }
mkdir -p "$WORK"

routeweave train data --work "$WORK"
for EPOCHS in 1 2; do routeweave train sft --work "$WORK" --base "$BASE" --epochs "$EPOCHS"; done

export VLLM_API_KEY="train-gpu-$RANDOM$RANDOM" VLLM_ALLOW_RUNTIME_LORA_UPDATING=True
vllm serve "$BASE" --host 127.0.0.1 --port "$PORT" --api-key "$VLLM_API_KEY" --enable-lora --max-lora-rank 16 \
  --max-loras 2 --gpu-memory-utilization "$GPU_MEM" --max-model-len 8192 >"$WORK/vllm.log" 2>&1 &
VLLM_PID=$!
trap 'kill $VLLM_PID 2>/dev/null || true; wait $VLLM_PID 2>/dev/null || true' EXIT
deadline=$((SECONDS + WAIT_S))
until curl -fsS "http://127.0.0.1:${PORT}/health" >/dev/null 2>&1; do
  kill -0 "$VLLM_PID" 2>/dev/null || { tail -n 40 "$WORK/vllm.log" >&2; exit 1; }
  [ "$SECONDS" -lt "$deadline" ] || { echo "train_gpu: vLLM not healthy after ${WAIT_S}s" >&2; exit 1; }
  sleep 2
done

# The shipped vLLM pool with its router pointed at this server and model.
POOL="$WORK/pool-train.toml"
sed -e "s#^model = \"hosted_vllm/Qwen/Qwen2.5-3B-Instruct\"#model = \"hosted_vllm/$BASE\"#" \
    -e "0,/^api_base = .*/s##api_base = \"http://127.0.0.1:${PORT}/v1\"#" \
    "$(python -c 'import routeweave.agents.pool as p; print(p.pools_dir())')/vllm.toml" >"$POOL"

routeweave train grpo --work "$WORK" --base "$BASE" --pool "$POOL" --alpha "$ALPHA" --steps "$STEPS" --micro-batch "${MICRO_BATCH:-8}"
echo "train_gpu: serve it with: vllm serve $BASE --enable-lora --lora-modules router=$WORK/grpo-a$ALPHA/adapter"

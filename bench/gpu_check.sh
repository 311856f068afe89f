#!/usr/bin/env bash
# The GPU path, checked on a machine with an NVIDIA CUDA GPU, in about 4 minutes:
#   1. a venv (.venv-gpu, or $GPU_CHECK_VENV) with torch, torchvision and this repository
#      (-e .[workflow,demo]); or, offline (GPU_CHECK_WHEELS=DIR, for nodes that reach no
#      package index), a venv that sees the site-packages of the python3 that makes it (a
#      CUDA torch already installed there) plus the wheels in DIR, installed with
#      --no-index --no-deps, and the repository from src/ (bench/README.md: making DIR);
#   2. bench/train.py on CUDA: PaperCNN, frozen ResNet18 and full ResNet18 trained on
#      synthetic images and on the real image cache (pipeline-made spectrogram PNGs);
#      its CUDA line is printed at the end;
#   3. a tiny workflow run with models.device: cuda (bench/scaling.py --smoke: 20
#      generated tracks through Table 1).
# Exits non-zero on the first failure, and at once (exit 2) where there is no CUDA GPU.
#
#   bash bench/gpu_check.sh            # from anywhere; logs under $GPU_CHECK_LOGS (/tmp)
set -euo pipefail
# the venv installs with --no-compile: Python must be free to cache bytecode as it imports
unset PYTHONDONTWRITEBYTECODE

cd "$(dirname "${BASH_SOURCE[0]}")/.."
VENV=${GPU_CHECK_VENV:-.venv-gpu}
LOGS=${GPU_CHECK_LOGS:-$(mktemp -d -t synthdetect-gpu-check-XXXXXX)}
N_TRAIN=${GPU_CHECK_N_TRAIN:-4096}
start=$SECONDS

fail() {
    echo "gpu_check: FAILED: $*" >&2
    exit 1
}
step() { echo "gpu_check: [$((SECONDS - start)) s] $*"; }

if ! command -v nvidia-smi >/dev/null 2>&1; then
    echo "gpu_check: no CUDA GPU here: nvidia-smi is not installed; run this on a machine" \
        "with an NVIDIA GPU and its driver" >&2
    exit 2
fi
if ! gpus=$(nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>&1) \
    || [ -z "$gpus" ]; then
    echo "gpu_check: no CUDA GPU here: nvidia-smi found no usable GPU ($gpus)" >&2
    exit 2
fi
mkdir -p "$LOGS"
step "GPU: $gpus"

WHEELS=${GPU_CHECK_WHEELS:-}
step "installing into $VENV${WHEELS:+ offline from $WHEELS} (log: $LOGS/install.log)"
if [ ! -x "$VENV/bin/python" ]; then
    python3 -m venv "$VENV" || fail "python3 -m venv $VENV"
fi
PY=$VENV/bin/python
if [ -n "$WHEELS" ]; then
    ls "$WHEELS"/*.whl >/dev/null 2>&1 || fail "GPU_CHECK_WHEELS=$WHEELS holds no .whl files"
    # the venv sees the packages of the python3 that made it (its CUDA torch) through a .pth
    python3 -c 'import site; print("\n".join(site.getsitepackages()))' \
        >"$("$PY" -c 'import sysconfig; print(sysconfig.get_path("purelib"))')/gpu_check_parent.pth"
    "$PY" -m pip install --quiet --no-index --no-deps --ignore-installed --no-compile "$WHEELS"/*.whl \
        >"$LOGS/install.log" 2>&1 || fail "pip install --no-index $WHEELS (see $LOGS/install.log)"
else
    {
        "$PY" -m pip install --quiet --upgrade pip &&
            "$PY" -m pip install --quiet torch==2.14.1 torchvision==0.29.1 &&
            "$PY" -m pip install --quiet -e '.[workflow,demo]'
    } >"$LOGS/install.log" 2>&1 || fail "pip install (see $LOGS/install.log)"
fi
export PATH=$(cd "$VENV/bin" && pwd):$PATH
"$PY" -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)" ||
    fail "torch $("$PY" -c 'import torch; print(torch.__version__)') sees no CUDA device"
export PYTHONPATH=$PWD/src${PYTHONPATH:+:$PYTHONPATH}
step "$("$PY" -c 'import sys, torch, torchvision
print(f"python {sys.version.split()[0]}, torch {torch.__version__}, torchvision {torchvision.__version__}")')"

step "bench/train.py --device cuda --n-train $N_TRAIN (log: $LOGS/train.log)"
"$PY" bench/train.py --device cuda --n-train "$N_TRAIN" >"$LOGS/train.log" 2>&1 ||
    { tail -30 "$LOGS/train.log" >&2; fail "bench/train.py on CUDA"; }
grep -E "^(# device|PaperCNN|ResNet18|HistogramMLP|frozen)" "$LOGS/train.log"

step "tiny workflow with models.device: cuda (log: $LOGS/workflow.log)"
"$PY" bench/scaling.py --smoke --device cuda >"$LOGS/workflow.log" 2>&1 ||
    { tail -30 "$LOGS/workflow.log" >&2; fail "the workflow with models.device: cuda"; }
tail -1 "$LOGS/workflow.log"

line=$(tail -1 "$LOGS/train.log")
case $line in
cnn_input_efficiency=*" device="*) ;;
*) fail "bench/train.py's last line is not its CUDA line: $line" ;;
esac
eff=${line#cnn_input_efficiency=}
eff=${eff%% *}
if awk -v e="$eff" 'BEGIN { exit !(e >= 0.5) }'; then
    step "goal met: PaperCNN from the real image cache at $eff of its synthetic-input rate (goal >= 0.5)"
else
    step "goal MISSED: PaperCNN from the real image cache at $eff of its synthetic-input rate (goal >= 0.5)"
fi
step "done"
echo "$line"

#!/usr/bin/env bash
# One command for a fresh Debian/Ubuntu machine: system tools, Python packages, Jupyter kernel,
# then the main job on the bundled sample (a synthesised speech clip + matplotlib's portrait photo).
#   bash scripts/setup.sh            # install + demo
#   bash scripts/setup.sh --no-demo  # install only (CI)
set -euo pipefail
cd "$(dirname "$0")/.."
SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
PY=${PYTHON:-python3}

if command -v apt-get >/dev/null 2>&1; then
  need=""
  for pkg in ffmpeg espeak-ng chromium fonts-wqy-microhei; do
    dpkg -s "$pkg" >/dev/null 2>&1 || need="$need $pkg"
  done
  if [ -n "$need" ]; then
    echo "== apt-get install$need"
    $SUDO apt-get update -q
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends $need
  fi
fi

echo "== pip install (torch 2.13.0 CPU build, mediapipe 0.10.21, jupyter stack)"
$PY -m pip install -q --upgrade pip >/dev/null 2>&1 || true
# torch first and pinned: an unpinned torch drags several GB of CUDA packages
$PY -m pip install -q "torch==2.13.0"
$PY -m pip install -q -e ".[all]"
# papermill needs a named kernel; register this interpreter as "heygem"
$PY -m ipykernel install --sys-prefix --name heygem --display-name "HeyGem (Python 3)" >/dev/null

if [ "${1:-}" != "--no-demo" ]; then
  photo=$($PY -c "import matplotlib.cbook as c; print(c.get_sample_data('grace_hopper.jpg', asfileobj=False))")
  echo "== demo: heygem run on the bundled sample"
  heygem run --audio heygem_kernel/assets/sample_speech.wav --video "$photo" --out runs/demo.mp4
fi

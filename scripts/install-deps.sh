#!/usr/bin/env bash
# Installs what TempMe.Pipeline needs on a Debian machine, skipping what is already there.
#   scripts/install-deps.sh            runtime: ffmpeg, OpenBLAS
#   scripts/install-deps.sh --test     also PostgreSQL, Chromium, Prometheus (server + promtool), kubectl and Azurite (npm, into .ci/.work)
set -euo pipefail
cd "$(dirname "$0")/.."

want=(ffmpeg libopenblas0-pthread)
if [[ "${1:-}" == "--test" ]]; then
  # prometheus: a real server scrapes a running silo in tests, and promtool checks the exposition.
  want+=(postgresql chromium prometheus)
  # iproute2: the partition test puts a worker silo in its own network namespace (ip netns, veth).
  want+=(iproute2)
  # Debian's CPU torch writes the PyTorch checkpoints (zip torch.save, TorchScript) the encoder tests load.
  want+=(python3-torch)
  # Node may come from another source than Debian (its own npm inside): only install Debian's when none is there.
  command -v npm >/dev/null 2>&1 || want+=(nodejs npm)
  # kubectl renders the Kubernetes overlays in tests; keep one that is already installed (e.g. from a cloud SDK).
  command -v kubectl >/dev/null 2>&1 || want+=(kubernetes-client)
fi

missing=()
for pkg in "${want[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if ((${#missing[@]})); then
  echo "installing: ${missing[*]}"
  SUDO=""; [[ $(id -u) -eq 0 ]] || SUDO="sudo"
  $SUDO apt-get update -qq
  # policy-rc.d style: never start services from package scripts (no systemd here).
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get -o DPkg::Lock::Timeout=900 install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if ! command -v dotnet >/dev/null 2>&1; then
  echo "error: the .NET 10 SDK is required (dotnet on PATH); install it from your distribution or Microsoft, then run this again." >&2
  exit 2
fi

if [[ "${1:-}" == "--test" ]]; then
  if [[ ! -x .ci/.work/azurite/node_modules/.bin/azurite-blob ]]; then
    mkdir -p .ci/.work/azurite
    npm install --silent --no-audit --no-fund --prefix .ci/.work/azurite azurite@3.35.0 >/dev/null
  fi
fi

#!/usr/bin/env bash
# System packages the project needs that PyPI does not provide: Icarus Verilog.
set -euo pipefail
if ! command -v iverilog >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq iverilog >/dev/null
fi
iverilog -V 2>/dev/null | head -n 1

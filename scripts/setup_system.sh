#!/usr/bin/env bash
# System packages the project needs that PyPI does not provide: Icarus Verilog, and ccache, which keeps
# the C++ objects of Verilator's runtime between builds (every cocotb build on Verilator compiles them).
set -euo pipefail
missing=()
command -v iverilog >/dev/null 2>&1 || missing+=(iverilog)
command -v ccache >/dev/null 2>&1 || missing+=(ccache)
if [ ${#missing[@]} -gt 0 ]; then
    if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi
iverilog -V 2>/dev/null | head -n 1

#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Installs what swat needs from Debian's packages (Debian 12, as root).
# Skips apt entirely when everything is already there.
set -euo pipefail
# mpich + libhdf5-mpich-dev: the MPICH stage of tools/run_tests.sh (Debian's
# alternatives keep Open MPI as the default mpicc/mpirun)
pkgs=(build-essential cmake pkg-config openmpi-bin libopenmpi-dev libblis-dev
      libhdf5-openmpi-dev hdf5-tools libcmocka-dev libinih-dev libdnnl-dev mpich libhdf5-mpich-dev
      zlib1g-dev
      python3-h5py python3-numpy python3-torch python3-sentencepiece fortunes fortunes-min
      slurm-wlm slurmctld slurmd munge valgrind bc gnuplot-nox
      libsentencepiece-dev python3-matplotlib)
pkgs+=("$@")
missing=()
for p in "${pkgs[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
    echo "install-deps: all ${#pkgs[@]} packages present"
    exit 0
fi
echo "install-deps: installing ${missing[*]}"
if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; else SUDO=; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
echo "install-deps: done"

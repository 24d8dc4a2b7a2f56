#!/bin/sh
# SPDX-License-Identifier: MIT
# Installs the Debian packages that `ferry bench queue|pipe` compares ferry against.
# As root it runs apt-get; as anyone else it only prints the command to run.
# None of these packages is needed to build or test ferry itself.
set -eu

PKGS="libzmq3-dev libboost-dev iceoryx libiceoryx-binding-c-dev python3-numpy g++ pkg-config"

if [ "$(id -u)" -ne 0 ]; then
    echo "not root: run this as root, or install these packages yourself:"
    echo "  apt-get install -y --no-install-recommends $PKGS"
    exit 0
fi

export DEBIAN_FRONTEND=noninteractive
apt-get update
# shellcheck disable=SC2086  # word splitting of the list is intended
apt-get install -y --no-install-recommends $PKGS
echo "installed: $PKGS"
echo "the RouDi daemon for the iceoryx peer: $(command -v iox-roudi || echo 'iox-roudi not on PATH')"

#!/bin/sh
# Install, with apt-get, the Debian 12 packages libcompcoll needs to build,
# test and run its demo; packages already present are left alone.
set -e

packages="gcc make autoconf automake libtool pkg-config binutils
          mpich libmpich-dev libucx-dev ucx-utils libhwloc-dev
          python3 python3-venv python3-dev gfortran groff-base man-db
          libopenblas-dev zlib1g-dev dataset-fashion-mnist gnuplot-nox locales"

missing=""
for p in $packages; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
        missing="$missing $p"
done
[ -z "$missing" ] && exit 0

echo "install-deps: installing$missing" >&2
if [ "$(id -u)" -eq 0 ]; then
    sudo=""
elif command -v sudo >/dev/null 2>&1; then
    sudo="sudo"
else
    echo "install-deps: need root (or sudo) to install:$missing" >&2
    exit 1
fi
$sudo apt-get update -q
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends $missing

#!/bin/sh
# Makes sure `python3 -m pip` runs, installing Debian's python3-pip with apt-get (via sudo when
# not root) when it does not; WHY says what pip is for, in the message.
#   sh Tools/ensure-pip.sh WHY
set -eu
python3 -m pip --version >/dev/null 2>&1 && exit 0
echo "Installing with apt-get: python3-pip ($1)"
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq python3-pip

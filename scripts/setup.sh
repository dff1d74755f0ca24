#!/bin/sh
# npm run setup: the Debian packages the tests and the no-hardware recipe need (mosquitto, socat,
# openssl, libusb for node-hid, chromium and a CJK font for the guard console's browser tests). Works as root (no sudo needed) and as a user with sudo.
set -eu
PKGS="mosquitto socat openssl libusb-1.0-0 chromium fonts-noto-cjk"
if [ "$(id -u)" = 0 ]; then
  apt-get update -qq && apt-get install -y $PKGS
elif command -v sudo >/dev/null 2>&1; then
  sudo apt-get update -qq && sudo apt-get install -y $PKGS
else
  echo "setup: run as root, or install with your package manager: $PKGS" >&2
  exit 1
fi

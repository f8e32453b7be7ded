#!/usr/bin/env bash
# The Debian packages the test suite needs beyond Python: systemd-analyze (the unit files are verified), the
# fonts the offline card renderer draws every script with (tests/unit/test_card.py), and Chromium with its
# driver for the review page's browser tests (tests/e2e/test_review_browser.py). Installed only when
# something is missing, and only where apt-get can run (root, or passwordless sudo); otherwise the missing
# packages are named and the tests that need them say so.
set -euo pipefail

FONT_PACKAGES=(fontconfig fonts-dejavu-core fonts-noto-core fonts-noto-cjk fonts-noto-color-emoji libfribidi0)
missing=()
command -v systemd-analyze >/dev/null 2>&1 || missing+=(systemd)
if ! command -v fc-list >/dev/null 2>&1 \
    || ! fc-list :lang=hi | grep -q . || ! fc-list :lang=ja | grep -q . || ! fc-list :lang=und-zsye | grep -q .; then
  missing+=("${FONT_PACKAGES[@]}")
fi
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v chromedriver >/dev/null 2>&1 || missing+=(chromium-driver)
if ! ldconfig -p 2>/dev/null | grep -q libfribidi; then
  missing+=(libfribidi0)
fi
[ "${#missing[@]}" -eq 0 ] && exit 0

if [ "$(id -u)" -eq 0 ]; then
  sudo=()
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
  sudo=(sudo)
else
  echo "system-packages: missing ${missing[*]}; install them with apt-get (as root) for the whole test suite" >&2
  exit 0
fi
echo "system-packages: installing ${missing[*]}"
"${sudo[@]}" apt-get update -qq
DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null

#!/usr/bin/env bash
# What the page tests need beside Python: Debian's Chromium and a CJK font (issue 22). Installed here
# when missing and we may (root with apt-get); otherwise one line says what to install, and make test
# stops. GOVSHARE_SKIP_BROWSER=1 runs the suite without the browser tests (they skip themselves).
set -euo pipefail
[ "${GOVSHARE_SKIP_BROWSER:-0}" = 1 ] && exit 0
have() { [ -x /usr/bin/chromium ] && { fc-list 2>/dev/null | grep -qiE "noto sans cjk|wenquanyi|wqy"; }; }
have && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq && apt-get install -y -qq chromium fonts-noto-cjk >/dev/null
    have && exit 0
fi
echo "make test needs Debian's chromium and a CJK font: sudo apt-get install chromium fonts-noto-cjk (or GOVSHARE_SKIP_BROWSER=1 make test)" >&2
exit 1

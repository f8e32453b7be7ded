#!/usr/bin/env bash
# Remove postpilot: stop and disable its units, delete the unit files and the virtualenv.
#
# Keeps /etc/postpilot (settings and secrets, including the key that decrypts stored tokens) and the
# state directory (the SQLite database and local media) unless --purge is given, so a later install
# picks up where this one left off. A PostgreSQL database is never touched.
#
# DESTDIR=/some/root works on a staged tree the way deploy/install.sh does, without systemctl.
set -euo pipefail

usage() {
    cat <<'EOF'
Usage: deploy/uninstall.sh [options]

  --purge          also delete /etc/postpilot and the state directory (/var/lib/postpilot): the SQLite
                   database, local media and the secret key are gone for good
  --no-systemctl   do not call systemctl
  -h, --help       show this help

Environment:
  DESTDIR   remove from under this root instead of / (implies --no-systemctl)
  PREFIX    where the venv lives (default /opt/postpilot)
EOF
}

say() { printf '%-10s %s\n' "$1" "$2"; }
die() { printf 'uninstall.sh: %s\n' "$*" >&2; exit 1; }

PURGE=0
USE_SYSTEMCTL=1
DESTDIR=${DESTDIR:-}
PREFIX=${PREFIX:-/opt/postpilot}

while [ $# -gt 0 ]; do
    case $1 in
        --purge) PURGE=1 ;;
        --no-systemctl) USE_SYSTEMCTL=0 ;;
        -h | --help) usage; exit 0 ;;
        *) usage >&2; die "unknown option: $1" ;;
    esac
    shift
done

case $PREFIX in
    /?*) ;;
    *) die "PREFIX must be an absolute path other than / (got '$PREFIX')" ;;
esac
PREFIX=${PREFIX%/}
if [ -n "$DESTDIR" ]; then
    [ -d "$DESTDIR" ] || die "DESTDIR $DESTDIR does not exist"
    DESTDIR=$(cd "$DESTDIR" && pwd)
    [ "$DESTDIR" != / ] || DESTDIR=""
fi
if [ -n "$DESTDIR" ]; then
    USE_SYSTEMCTL=0
elif [ "$(id -u)" -ne 0 ]; then
    die "run as root (or set DESTDIR=/some/root)"
fi

UNIT_DIR=/etc/systemd/system
UNITS=(postpilot.service postpilot-once.timer postpilot-once.service)
root() { printf '%s%s' "$DESTDIR" "$1"; }

remove() {
    if [ -e "$(root "$1")" ] || [ -L "$(root "$1")" ]; then
        rm -rf -- "$(root "$1")"
        say removed "$1"
    fi
}

if [ "$USE_SYSTEMCTL" -eq 1 ]; then
    for unit in "${UNITS[@]}"; do
        if systemctl is-enabled --quiet "$unit" 2>/dev/null || systemctl is-active --quiet "$unit"; then
            # Stopping the daemon drains in-flight posts first (up to POSTPILOT_DRAIN_TIMEOUT_S).
            systemctl disable --now --quiet "$unit"
            say stopped "$unit"
        fi
    done
fi

for unit in "${UNITS[@]}"; do
    remove "$UNIT_DIR/$unit"
    # Drop-ins made with `systemctl edit` belong to the unit.
    remove "$UNIT_DIR/$unit.d"
done
if [ "$USE_SYSTEMCTL" -eq 1 ]; then
    systemctl daemon-reload
    systemctl reset-failed "${UNITS[@]}" 2>/dev/null || true
fi

# Only delete what is recognisably our virtualenv, whatever PREFIX says.
venv=$PREFIX/venv
if [ -f "$(root "$venv")/pyvenv.cfg" ]; then
    remove "$venv"
elif [ -e "$(root "$venv")" ]; then
    say kept "$venv (not a virtualenv; left alone)"
fi
remove "$PREFIX/README.md"
if [ -d "$(root "$PREFIX")" ] && rmdir "$(root "$PREFIX")" 2>/dev/null; then
    say removed "$PREFIX/"
fi

if [ "$PURGE" -eq 1 ]; then
    remove /etc/postpilot
    # With DynamicUser= the data lives in /var/lib/private/postpilot behind a /var/lib/postpilot link.
    remove /var/lib/postpilot
    remove /var/lib/private/postpilot
else
    for kept in /etc/postpilot /var/lib/postpilot; do
        if [ -e "$(root "$kept")" ]; then
            say kept "$kept (pass --purge to delete it)"
        fi
    done
fi
say done "postpilot is uninstalled"

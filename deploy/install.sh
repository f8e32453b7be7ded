#!/usr/bin/env bash
# Install or upgrade postpilot on a systemd host.
#
# Lays out:  $PREFIX/venv (default /opt/postpilot/venv) with postpilot pip-installed into it,
#            /etc/postpilot/postpilot.env        settings, from .env.example; never overwritten,
#            /etc/postpilot/credentials/         secrets, one file per setting, mode 0600,
#            /etc/systemd/system/postpilot*.{service,timer},
# then runs the database migration and enables the daemon (or, with --timer, the run-once timer).
#
# Safe to run again: existing settings and secrets are kept, unchanged files are not rewritten, and an
# upgrade re-installs the package, migrates, and restarts the running service.
#
# DESTDIR=/some/root writes everything under that root and never touches the live system (no systemctl,
# no migration unless --migrate). Note that a virtualenv records its own path: a venv built under
# DESTDIR only runs from there, so image builds usually pass --skip-venv and create the venv in place.
set -euo pipefail
umask 022

usage() {
    cat <<'EOF'
Usage: deploy/install.sh [options]

  --src DIR        install postpilot from this source tree (default: the tree holding this script)
  --wheel FILE     install postpilot from this wheel instead of a source tree
  --skip-venv      lay out files only: no virtualenv, no pip, no migration (fast; for tests and images)
  --timer          enable postpilot-once.timer (run-once every minute) instead of the daemon
  --no-systemctl   do not call systemctl (units are still installed)
  --migrate        run the migration even with DESTDIR set
  --no-migrate     skip `postpilot db upgrade`
  -h, --help       show this help

Environment:
  DESTDIR              install under this root instead of / (implies --no-systemctl)
  PREFIX               where the venv lives (default /opt/postpilot)
  PYTHON               interpreter for the venv, 3.11 or newer (default python3)
  POSTPILOT_PIP_ARGS   extra arguments for pip install, e.g. "--no-index --find-links /srv/wheels"
EOF
}

say() { printf '%-10s %s\n' "$1" "$2"; }
die() { printf 'install.sh: %s\n' "$*" >&2; exit 1; }

REPO_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SRC_DIR=$REPO_DIR
WHEEL=""
SKIP_VENV=0
USE_TIMER=0
USE_SYSTEMCTL=1
MIGRATE=auto
DESTDIR=${DESTDIR:-}
PREFIX=${PREFIX:-/opt/postpilot}
PYTHON=${PYTHON:-python3}
POSTPILOT_PIP_ARGS=${POSTPILOT_PIP_ARGS:-}

while [ $# -gt 0 ]; do
    case $1 in
        --src) [ $# -ge 2 ] || die "--src needs a directory"; SRC_DIR=$2; shift ;;
        --wheel) [ $# -ge 2 ] || die "--wheel needs a file"; WHEEL=$2; shift ;;
        --skip-venv) SKIP_VENV=1 ;;
        --timer) USE_TIMER=1 ;;
        --no-systemctl) USE_SYSTEMCTL=0 ;;
        --migrate) MIGRATE=yes ;;
        --no-migrate) MIGRATE=no ;;
        -h | --help) usage; exit 0 ;;
        *) usage >&2; die "unknown option: $1" ;;
    esac
    shift
done

# Paths end up inside unit files (ExecStart=) and sed expressions: keep them to plain characters.
case $PREFIX in
    /*) ;;
    *) die "PREFIX must be an absolute path (got '$PREFIX')" ;;
esac
[[ $PREFIX =~ ^[A-Za-z0-9._/+-]+$ ]] || die "PREFIX may only contain letters, digits and . _ / + -"
PREFIX=${PREFIX%/}
if [ -n "$DESTDIR" ]; then
    mkdir -p "$DESTDIR"
    DESTDIR=$(cd "$DESTDIR" && pwd)
    [ "$DESTDIR" != / ] || DESTDIR=""
fi
if [ -n "$DESTDIR" ]; then
    USE_SYSTEMCTL=0
elif [ "$(id -u)" -ne 0 ]; then
    die "run as root (or set DESTDIR=/some/root to stage the files elsewhere)"
fi
[ -z "$WHEEL" ] || [ -f "$WHEEL" ] || die "no such wheel: $WHEEL"
[ -n "$WHEEL" ] || [ "$SKIP_VENV" -eq 1 ] || [ -f "$SRC_DIR/pyproject.toml" ] \
    || die "no pyproject.toml in $SRC_DIR (use --src or --wheel)"

ETC=/etc/postpilot
CRED_DIR=$ETC/credentials
ENV_FILE=$ETC/postpilot.env
UNIT_DIR=/etc/systemd/system
STATE_DIR=/var/lib/postpilot
VENV=$PREFIX/venv
UNITS=(postpilot.service postpilot-once.service postpilot-once.timer)

# $(root PATH) is PATH inside DESTDIR.
root() { printf '%s%s' "$DESTDIR" "$1"; }
mode_of() { stat -L -c %a "$1"; }

# Create one of our own directories with MODE, or bring an existing one back to MODE.
ensure_dir() {
    local path mode
    path=$(root "$1")
    mode=$2
    if [ ! -d "$path" ]; then
        install -d -m "$mode" "$path"
        say created "$1/ ($mode)"
    elif [ "$(mode_of "$path")" != "${mode#0}" ]; then
        chmod "$mode" "$path"
        say fixed "$1/ (mode $mode)"
    fi
}

# Write SOURCE to DEST with MODE only when the content differs, so a re-run leaves files untouched.
put_file() {
    local source dest mode
    source=$1
    dest=$(root "$2")
    mode=$3
    if [ -f "$dest" ] && cmp -s "$source" "$dest"; then
        if [ "$(mode_of "$dest")" != "${mode#0}" ]; then
            chmod "$mode" "$dest"
            say fixed "$2 (mode $mode)"
        fi
        return 1
    fi
    local verb=updated
    [ -e "$dest" ] || verb=installed
    install -m "$mode" "$source" "$dest"
    say "$verb" "$2"
    return 0
}

TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

# --- the virtualenv --------------------------------------------------------------------------------
RUNTIME_CHANGED=0
# What the virtualenv runs: every installed distribution with its version, and postpilot's own file hashes
# (its version does not change between two builds of a checkout).
runtime_fingerprint() {
    local py
    py="$(root "$VENV")/bin/python"
    [ -x "$py" ] || { echo none; return; }
    "$py" - <<'PY' 2>/dev/null || echo none
import hashlib
from importlib import metadata

parts = sorted(f"{d.metadata['Name']}=={d.version}" for d in metadata.distributions())
try:
    record = metadata.distribution("postpilot").read_text("RECORD") or ""
    # direct_url.json names the temporary directory each build came from: not part of what runs.
    parts += [line for line in record.splitlines() if "direct_url.json" not in line and "INSTALLER" not in line]
except metadata.PackageNotFoundError:
    parts.append("no postpilot")
print(hashlib.sha256("\n".join(parts).encode()).hexdigest())
PY
}
if [ "$SKIP_VENV" -eq 1 ]; then
    say skipped "virtualenv and pip install (--skip-venv)"
else
    "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
        || die "$PYTHON is older than Python 3.11 (set PYTHON=/path/to/python3.11)"
    ensure_dir "$PREFIX" 0755
    if [ -x "$(root "$VENV")/bin/python" ]; then
        say kept "$VENV (existing virtualenv)"
    else
        "$PYTHON" -m venv "$(root "$VENV")"
        say created "$VENV"
    fi
    if [ -n "$WHEEL" ]; then
        target=$WHEEL
    else
        # Build from a clean copy: setuptools writes build/ and *.egg-info into the tree it builds,
        # and the source may be read-only or a developer's checkout with a virtualenv inside.
        target=$TMP/src
        mkdir "$target"
        tar -C "$SRC_DIR" --exclude=./.git --exclude=./.venv --exclude=./build --exclude=./dist \
            --exclude='*.egg-info' --exclude=__pycache__ --exclude='./.*_cache' --exclude=./var \
            -cf - . | tar -C "$target" -xf -
    fi
    # Word splitting of POSTPILOT_PIP_ARGS is intended: it carries several pip options.
    read -r -a pip_args <<<"$POSTPILOT_PIP_ARGS"
    before=$(runtime_fingerprint)
    "$(root "$VENV")/bin/python" -m pip install --quiet --upgrade "${pip_args[@]}" "$target"
    version=$("$(root "$VENV")/bin/python" -c 'from importlib.metadata import version; print(version("postpilot"))')
    # A re-run with the same code installs the same files: the running service is left alone.
    if [ "$before" != "$(runtime_fingerprint)" ]; then
        say installed "postpilot $version from ${WHEEL:-$SRC_DIR}"
        RUNTIME_CHANGED=1
    else
        say unchanged "postpilot $version (same code and dependencies)"
    fi
fi
# The units' Documentation= points here.
if [ -f "$REPO_DIR/README.md" ]; then
    ensure_dir "$PREFIX" 0755
    put_file "$REPO_DIR/README.md" "$PREFIX/README.md" 0644 || say unchanged "$PREFIX/README.md"
fi

# --- settings and secrets --------------------------------------------------------------------------
# Only root (and systemd, which reads both on the service's behalf) may read the configuration.
mkdir -p "$(root /etc)"
ensure_dir "$ETC" 0700
ensure_dir "$CRED_DIR" 0700

if [ -e "$(root "$ENV_FILE")" ]; then
    say kept "$ENV_FILE (existing settings are never overwritten)"
    if [ "$(mode_of "$(root "$ENV_FILE")")" != 600 ]; then
        chmod 0600 "$(root "$ENV_FILE")"
        say fixed "$ENV_FILE (mode 600)"
    fi
else
    if [ -f "$REPO_DIR/.env.example" ]; then
        cp "$REPO_DIR/.env.example" "$TMP/postpilot.env"
    else
        cat >"$TMP/postpilot.env" <<'EOF'
# postpilot settings: POSTPILOT_* variables, one per line (see .env.example in the source tree).
# Secrets belong in /etc/postpilot/credentials/, not here.
EOF
    fi
    install -m 0600 "$TMP/postpilot.env" "$(root "$ENV_FILE")"
    say created "$ENV_FILE (edit it, then restart postpilot)"
fi

# The secret key encrypts account tokens in the database: generate it once, never replace it.
if [ -e "$(root "$CRED_DIR/secret_key")" ]; then
    say kept "$CRED_DIR/secret_key"
else
    # 32 random bytes, urlsafe base64: the format of cryptography's Fernet.generate_key().
    (umask 077 && "$PYTHON" -c \
        'import base64, secrets, sys; sys.stdout.write(base64.urlsafe_b64encode(secrets.token_bytes(32)).decode())' \
        >"$TMP/secret_key")
    install -m 0600 "$TMP/secret_key" "$(root "$CRED_DIR/secret_key")"
    say generated "$CRED_DIR/secret_key (back it up: without it stored tokens cannot be decrypted)"
fi
for cred in "$(root "$CRED_DIR")"/*; do
    [ -f "$cred" ] || continue
    if [ "$(mode_of "$cred")" != 600 ]; then
        chmod 0600 "$cred"
        say fixed "$CRED_DIR/${cred##*/} (mode 600)"
    fi
done

# --- systemd units ---------------------------------------------------------------------------------
mkdir -p "$(root "$UNIT_DIR")"
for unit in "${UNITS[@]}"; do
    sed "s#/opt/postpilot#$PREFIX#g" "$REPO_DIR/systemd/$unit" >"$TMP/$unit"
    if put_file "$TMP/$unit" "$UNIT_DIR/$unit" 0644; then
        RUNTIME_CHANGED=1
    else
        say unchanged "$UNIT_DIR/$unit"
    fi
done
if [ "$USE_SYSTEMCTL" -eq 1 ]; then
    systemctl daemon-reload
    say ran "systemctl daemon-reload"
fi

# --- database migration ----------------------------------------------------------------------------
run_with_systemd() {
    # A transient unit with the service's own identity, settings and credentials, so the SQLite file
    # and anything else the command creates belong to the dynamic user that will run the daemon.
    systemd-run --quiet --wait --pipe --collect --service-type=exec \
        --unit="postpilot-$1-$$" \
        --property=DynamicUser=yes --property=User=postpilot --property=Group=postpilot \
        --property=StateDirectory=postpilot --property=StateDirectoryMode=0700 --property=UMask=0077 \
        --property=EnvironmentFile=-$ENV_FILE \
        --property=LoadCredential=postpilot:$CRED_DIR \
        --setenv=PYTHONUNBUFFERED=1 \
        "$VENV/bin/postpilot" "${@:2}"
}

run_directly() {
    # Without a running systemd, present settings and secrets the way the units do: the env file as
    # .env in the working directory and each credential as postpilot_<name> in CREDENTIALS_DIRECTORY.
    local work=$TMP/$1
    install -d -m 0700 "$work" "$work/credentials"
    cp "$(root "$ENV_FILE")" "$work/.env"
    for cred in "$(root "$CRED_DIR")"/*; do
        if [ -f "$cred" ]; then
            cp "$cred" "$work/credentials/postpilot_${cred##*/}"
        fi
    done
    ensure_dir "$STATE_DIR" 0700
    (cd "$work" && STATE_DIRECTORY=$(root "$STATE_DIR") CREDENTIALS_DIRECTORY=$work/credentials \
        "$(root "$VENV")/bin/postpilot" "${@:2}")
}

# How the CLI runs as the service here: "systemd", "direct", or "" (not at all) with the reason in $WHY.
RUN_MODE=""
WHY=""
if [ "$SKIP_VENV" -eq 1 ]; then
    WHY="--skip-venv"
elif [ -n "$DESTDIR" ] && [ "$MIGRATE" != yes ]; then
    WHY="DESTDIR set; pass --migrate to run it"
elif [ -z "$DESTDIR" ] && [ "$USE_SYSTEMCTL" -eq 1 ] && [ -d /run/systemd/system ]; then
    RUN_MODE=systemd
else
    RUN_MODE=direct
fi

if [ "$MIGRATE" = no ]; then
    say skipped "database migration (--no-migrate)"
elif [ -z "$RUN_MODE" ]; then
    say skipped "database migration ($WHY)"
elif [ "$RUN_MODE" = systemd ]; then
    run_with_systemd migrate db upgrade
    say ran "postpilot db upgrade (as the service's dynamic user)"
else
    run_directly migrate db upgrade
    say ran "postpilot db upgrade"
fi

# --- enable and start ------------------------------------------------------------------------------
if [ "$USE_SYSTEMCTL" -eq 0 ]; then
    say skipped "systemctl enable/start (DESTDIR or --no-systemctl)"
else
    # The daemon and the timer are alternatives: one owner of the work, never both.
    if [ "$USE_TIMER" -eq 1 ]; then
        wanted=postpilot-once.timer
        other=postpilot.service
    else
        wanted=postpilot.service
        other=postpilot-once.timer
    fi
    if systemctl is-enabled --quiet "$other" 2>/dev/null || systemctl is-active --quiet "$other"; then
        systemctl disable --now --quiet "$other"
        say disabled "$other"
    fi
    was_active=0
    if systemctl is-active --quiet "$wanted"; then
        was_active=1
    fi
    systemctl enable --now --quiet "$wanted"
    say enabled "$wanted"
    if [ "$was_active" -eq 1 ] && [ "$RUNTIME_CHANGED" -eq 1 ] && [ "$wanted" = postpilot.service ]; then
        # Restarting drains in-flight posts first (SIGTERM, up to POSTPILOT_DRAIN_TIMEOUT_S).
        systemctl restart "$wanted"
        say restarted "$wanted (new code or unit)"
    fi
fi

# --- does it work? ---------------------------------------------------------------------------------
# postpilot doctor checks settings, database, OpenAI, Cloudinary and every account without publishing
# anything. Its findings are shown; they do not undo the install (fix them, then run it again).
if [ -z "$RUN_MODE" ] || [ "$MIGRATE" = no ]; then
    say skipped "postpilot doctor (${WHY:---no-migrate})"
else
    doctor_status=0
    if [ "$RUN_MODE" = systemd ]; then
        run_with_systemd doctor doctor || doctor_status=$?
    else
        run_directly doctor doctor || doctor_status=$?
    fi
    if [ "$doctor_status" -eq 0 ]; then
        say ran "postpilot doctor: no errors"
    else
        say ran "postpilot doctor: errors above; fix them before the first post is due"
    fi
fi

if [ "$USE_TIMER" -eq 1 ]; then
    apply="changes apply at the next run of postpilot-once.timer"
else
    apply="after changing them: systemctl restart postpilot.service"
fi
cat <<EOF

postpilot is installed${DESTDIR:+ under $DESTDIR}.
  settings:  $(root "$ENV_FILE")
  secrets:   $(root "$CRED_DIR")/<setting name>, mode 0600 (e.g. database_url, facebook_app_secret)
  state:     $(root "$STATE_DIR")
  $apply
EOF

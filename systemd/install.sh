#!/bin/sh
# passgate: install the gate service on a Raspberry Pi (or any systemd + udev host).
#
#   sudo ./systemd/install.sh [--start] [--kiosk]
#
# --kiosk also shows the guard console full-screen on the Pi's touchscreen at boot: it installs cage
# and chromium, the `passgate-kiosk` user, a kiosk token (/etc/passgate/kiosk-token) and
# passgate-kiosk.service (enabled). The config's guardConsole.kiosk must then name a guard account.
#
# Run it from the built application directory (the one holding dist/, node_modules/, systemd/);
# /opt/passgate is the expected place, and the unit is rendered with the actual directory otherwise.
# It creates the `passgate` system user and its groups, the directories, installs the unit, the udev
# rules and (only if none exists) the example config, reloads systemd and udev, and enables the unit.
#
# Idempotent: running it twice changes nothing the second time. It never overwrites a config, never
# touches the data directory's contents, never runs `passgate init`, and starts or restarts the
# service only with --start.
#
# DESTDIR=/some/dir ./systemd/install.sh stages the files under that directory without root and
# without touching users, systemd or udev (packaging, and the idempotency check in CI).
set -eu

APP=$(CDPATH='' cd -- "$(dirname -- "$0")/.." && pwd)
DESTDIR=${DESTDIR:-}
START=0
KIOSK=0
for arg in "$@"; do
  case "$arg" in
    --start) START=1 ;;
    --kiosk) KIOSK=1 ;;
    -h | --help) sed -n '2,22p' "$0"; exit 0 ;;
    *) echo "install.sh: unknown argument $arg" >&2; exit 2 ;;
  esac
done

say() { echo "passgate install: $*"; }
live() { [ -z "$DESTDIR" ]; }

if live && [ "$(id -u)" -ne 0 ]; then
  echo "install.sh: run as root (sudo), or set DESTDIR to stage the files" >&2
  exit 1
fi
case "$APP" in
  /) echo "install.sh: refusing to use / as the application directory" >&2; exit 1 ;;
esac
[ -f "$APP/systemd/passgate.service" ] || { echo "install.sh: $APP does not look like passgate" >&2; exit 1; }
[ -f "$APP/dist/app/main.js" ] || say "warning: $APP/dist/app/main.js is missing: run \`npm ci && npm run build\` in $APP"

# --- packages: a CJK font, so names and the console's Chinese render on the Pi's screen ---------------
apt_install() {
  missing=""
  for p in "$@"; do dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing="$missing $p"; done
  [ -z "$missing" ] && return 0
  say "installing$missing"
  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing >/dev/null; } ||
    say "warning: could not install$missing (no network?): install them by hand"
}
if live && command -v apt-get >/dev/null; then
  apt_install fonts-noto-cjk
  [ "$KIOSK" = 1 ] && apt_install cage chromium curl
fi

# --- user and groups ---------------------------------------------------------------------------------
if live; then
  for g in gpio dialout input plugdev; do
    getent group "$g" >/dev/null || { groupadd --system "$g"; say "created group $g"; }
  done
  if ! id passgate >/dev/null 2>&1; then
    useradd --system --home-dir /var/lib/passgate --no-create-home --shell /usr/sbin/nologin --user-group passgate
    say "created user passgate"
  fi
  for g in gpio dialout input plugdev; do
    id -nG passgate | tr ' ' '\n' | grep -qx "$g" || { usermod -aG "$g" passgate; say "added passgate to $g"; }
  done
fi

# --- directories ---------------------------------------------------------------------------------------
owner() { live && chown "$1" "$2" || true; }
mkdir -p "$DESTDIR/etc/passgate" "$DESTDIR/var/lib/passgate" "$DESTDIR/var/log/passgate" \
  "$DESTDIR/etc/systemd/system" "$DESTDIR/etc/udev/rules.d"
chmod 0750 "$DESTDIR/etc/passgate" "$DESTDIR/var/lib/passgate" "$DESTDIR/var/log/passgate"
owner root:passgate "$DESTDIR/etc/passgate"
owner passgate:passgate "$DESTDIR/var/lib/passgate"
owner passgate:passgate "$DESTDIR/var/log/passgate"

# --- files -----------------------------------------------------------------------------------------------
# put SRC DEST MODE: installs only when the content differs; reports what changed.
CHANGED=0
put() {
  if [ -f "$2" ] && cmp -s "$1" "$2"; then
    say "unchanged $2"
  else
    cp "$1" "$2.passgate-new" && chmod "$3" "$2.passgate-new" && mv -f "$2.passgate-new" "$2"
    say "installed $2"
    CHANGED=1
  fi
}

TMP=$(mktemp)
trap 'rm -f "$TMP"' EXIT
sed "s#/opt/passgate#$APP#g" "$APP/systemd/passgate.service" >"$TMP"
put "$TMP" "$DESTDIR/etc/systemd/system/passgate.service" 0644
UNIT_CHANGED=$CHANGED

CHANGED=0
put "$APP/systemd/99-passgate.rules" "$DESTDIR/etc/udev/rules.d/99-passgate.rules" 0644
RULES_CHANGED=$CHANGED
chmod 0755 "$APP/systemd/relay-safe.sh" 2>/dev/null || true

CONFIG="$DESTDIR/etc/passgate/config.json"
if [ -e "$CONFIG" ]; then
  say "kept the existing $CONFIG"
else
  cp "$APP/systemd/config.pi.example.json" "$CONFIG"
  chmod 0640 "$CONFIG"
  owner root:passgate "$CONFIG"
  say "installed the example config as $CONFIG: edit it (docs/configuration.md)"
fi

# --- kiosk: the console on the Pi's own touchscreen ------------------------------------------------------
KIOSK_CHANGED=0
if [ "$KIOSK" = 1 ]; then
  TOKEN="$DESTDIR/etc/passgate/kiosk-token"
  if [ ! -s "$TOKEN" ]; then
    (umask 027 && head -c 32 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n' >"$TOKEN" && echo >>"$TOKEN")
    owner root:passgate "$TOKEN"
    say "made a kiosk token in $TOKEN"
  fi
  if live && ! id passgate-kiosk >/dev/null 2>&1; then
    useradd --system --home-dir /var/lib/passgate-kiosk --no-create-home --shell /usr/sbin/nologin --user-group passgate-kiosk
    for g in video render input; do getent group "$g" >/dev/null && usermod -aG "$g" passgate-kiosk; done
    say "created user passgate-kiosk"
  fi
  CHANGED=0
  sed "s#/opt/passgate#$APP#g" "$APP/systemd/passgate-kiosk.service" >"$TMP"
  put "$TMP" "$DESTDIR/etc/systemd/system/passgate-kiosk.service" 0644
  KIOSK_CHANGED=$CHANGED
fi

# --- systemd and udev --------------------------------------------------------------------------------------
if live; then
  if [ "$RULES_CHANGED" = 1 ]; then
    udevadm control --reload-rules
    udevadm trigger --subsystem-match=tty --subsystem-match=hidraw --subsystem-match=gpio
    say "udev rules reloaded"
  fi
  { [ "$UNIT_CHANGED" = 1 ] || [ "$KIOSK_CHANGED" = 1 ]; } && systemctl daemon-reload
  if [ "$KIOSK" = 1 ]; then
    systemctl is-enabled --quiet passgate-kiosk.service 2>/dev/null || { systemctl enable passgate-kiosk.service; say "enabled passgate-kiosk.service"; }
    systemctl set-default graphical.target >/dev/null 2>&1 || true
    say "kiosk: add a guard for the screen and name it in the config, then reboot:"
    say "  sudo -u passgate node $APP/dist/scripts/passgate.js guard add --data-dir /var/lib/passgate kiosk"
    say "  config.json: \"guardConsole\": { \"kiosk\": { \"guard\": \"kiosk\", \"tokenFile\": \"/etc/passgate/kiosk-token\" } }"
  fi
  systemctl is-enabled --quiet passgate.service 2>/dev/null || { systemctl enable passgate.service; say "enabled passgate.service"; }
  if [ ! -f /var/lib/passgate/passgate.db ]; then
    say "the data directory is not provisioned yet; as the passgate user run:"
    say "  sudo -u passgate node $APP/dist/scripts/passgate.js init --data-dir /var/lib/passgate --site <site> --gate <gate> --root <root SPKI>"
  fi
  if [ "$START" = 1 ]; then
    systemctl restart passgate.service
    say "passgate.service (re)started"
  else
    say "not started: \`systemctl start passgate\` (or rerun with --start) once the config and the data directory are ready"
  fi
fi
say "done"

#!/bin/sh
# passgate: force the relay line to its safe (de-energised) level. Run by systemd before the service
# starts and after it exits, however it exited (ExecStartPre=+ / ExecStopPost=+, outside the sandbox).
# The service itself does the same on start, stop and crash; this is the net under it.
#
#   relay-safe.sh [/etc/passgate/config.json]
#
# Reads gpio.relay.{line,activeLow} and gpio.simulated from the config (with node: no jq needed),
# then drives the line with the first tool found: pinctrl (Raspberry Pi OS Bookworm and later; the
# level stays after the tool exits), gpioset (libgpiod v2, then v1), raspi-gpio. Never fails the unit.
set -u
CONFIG=${1:-/etc/passgate/config.json}
NODE=${NODE:-/usr/bin/node}
log() { echo "relay-safe: $*" >&2; }

[ -r "$CONFIG" ] || { log "no readable config at $CONFIG; nothing done"; exit 0; }
VARS=$("$NODE" -e '
  const c = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
  const r = (c.gpio && c.gpio.relay) || {};
  if (!Number.isInteger(r.line) || typeof r.activeLow !== "boolean") process.exit(2);
  console.log(`LINE=${r.line} ACTIVE_LOW=${r.activeLow ? 1 : 0} SIMULATED=${c.gpio.simulated ? 1 : 0}`);
' "$CONFIG" 2>/dev/null) || { log "gpio.relay not readable in $CONFIG; nothing done"; exit 0; }
eval "$VARS"
[ "$SIMULATED" = 1 ] && exit 0

# De-energised: an active-low board is off with its input HIGH, an active-high one with it LOW.
if [ "$ACTIVE_LOW" = 1 ]; then LEVEL=1; PINCTRL=dh; else LEVEL=0; PINCTRL=dl; fi

if command -v pinctrl >/dev/null 2>&1; then
  pinctrl set "$LINE" op "$PINCTRL" && { log "GPIO$LINE driven $PINCTRL (pinctrl)"; exit 0; }
fi
if command -v gpioset >/dev/null 2>&1; then
  if gpioset --version 2>/dev/null | grep -q 'v2'; then
    # v2 resolves the line by name and, with -t0, sets it and exits.
    gpioset -t0 "GPIO$LINE=$LEVEL" && { log "GPIO$LINE set to $LEVEL (gpioset v2)"; exit 0; }
  elif command -v gpiofind >/dev/null 2>&1; then
    # shellcheck disable=SC2046
    set -- $(gpiofind "GPIO$LINE")
    [ $# -eq 2 ] && gpioset --mode=exit "$1" "$2=$LEVEL" && { log "GPIO$LINE set to $LEVEL (gpioset v1)"; exit 0; }
  fi
fi
if command -v raspi-gpio >/dev/null 2>&1; then
  raspi-gpio set "$LINE" op "$PINCTRL" && { log "GPIO$LINE driven $PINCTRL (raspi-gpio)"; exit 0; }
fi
log "no GPIO tool could set GPIO$LINE: the relay is left to its pull (check hardware.md §3.4)"
exit 0

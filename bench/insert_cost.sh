#!/bin/bash
# bench/insert_cost.sh - the committer's cost per message in instructions
# (valgrind callgrind), which a loaded machine does not blur: floodgated
# runs under callgrind collecting only inside envelope_store (the INSERTs
# of one message: its row, its recipients, its body), 300 messages of
# 10 KB are sent over one SMTP session, and the instructions per message
# are printed.  Give several builds to compare them in one run:
#
#     bench/insert_cost.sh build                  # this tree
#     bench/insert_cost.sh /old/build build       # before and after
#
# Runs as root (the daemon runs as nobody); loopback only.
set -euo pipefail
[ $# -ge 1 ] || { sed -n 2,12p "$0"; exit 2; }
command -v valgrind >/dev/null || { echo "insert_cost: valgrind is needed (apt-get install valgrind)"; exit 1; }
COUNT=${COUNT:-300}
work=$(mktemp -d /tmp/fg-insert-cost.XXXXXX)
chmod 755 "$work"
trap 'rm -rf "$work"' EXIT

measure() {
  local build=$(cd "$1" && pwd) st="$work/st" out="$work/callgrind.out"
  rm -rf "$st" "$out"; mkdir -p "$st"; chown nobody "$st"; chmod 700 "$st"
  local port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  cat > "$work/fg.conf" <<CONF
hostname = "mail.example.test";
state_dir = "$st";
log_file = "$st/floodgate.log";
listeners = ( { name = "mx"; address = "127.0.0.1:$port"; tls = "none"; auth = "off"; } );
dns = { servers = [ "127.0.0.1:9" ]; };
hammering = { failures = 0; };
client_limits = { max_connections = 0; max_unknown_recipients = 0; };
sending_limits = { messages_per_hour = 0; recipients_per_hour = 0; domains_per_hour = 0; };
CONF
  local ctl="runuser -u nobody -- env FLOODGATE_CONFIG=$work/fg.conf $build/floodctl"
  $ctl domain add example.test >/dev/null
  printf 'Long-Password-2026-x\n' | $ctl user add alice@example.test >/dev/null
  touch "$out"; chown nobody "$out"
  runuser -u nobody -- valgrind --tool=callgrind --callgrind-out-file="$out" \
    --toggle-collect=envelope_store "$build/floodgated" -d -c "$work/fg.conf" 2>"$work/daemon.log" &
  local vp=$!
  python3 - "$port" "$COUNT" <<'PY'
import smtplib, socket, sys, time
port, count = int(sys.argv[1]), int(sys.argv[2])
deadline = time.time() + 600          # valgrind starts slowly on a busy machine
while True:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=5).close()
        break
    except OSError:
        if time.time() > deadline:
            sys.exit("insert_cost: the daemon did not start")
        time.sleep(0.5)
msg = "From: a@remote.test\r\nTo: alice@example.test\r\nSubject: x\r\n\r\n" + ("y" * 70 + "\r\n") * 146
s = smtplib.SMTP("127.0.0.1", port, timeout=300)
for _ in range(count):
    s.sendmail("a@remote.test", ["alice@example.test"], msg)
s.quit()
PY
  kill -TERM "$vp"; wait "$vp" || true
  local accepted=$(grep -c 'event=accepted' "$work/daemon.log" || true)
  local total=$(callgrind_annotate "$out" 2>/dev/null | awk '/PROGRAM TOTALS/ {gsub(",", "", $1); print $1; exit}')
  printf '%-40s messages %5s   instructions in envelope_store per message %10.0f\n' \
    "$1" "$accepted" "$(echo "$total / $accepted" | bc -l)"
}

for b in "$@"; do measure "$b"; done

#!/usr/bin/env bash
# `gatehouse lab` played as a user would: in a real terminal (tmux), keys sent one at a time with
# send-keys, the screen read back with capture-pane. Plays keepalive-race along its optimal path
# using both ways of choosing: a number (2: run doctor), the arrow keys and Enter (down to 6, the
# edit menu), a number for the edit (1), then 9 (retry). Asserts the win screen on the terminal,
# that the terminal left raw mode (stty shows echo again), and saves the game's transcript to
# artifacts/lab-transcript.txt (and the screen to artifacts/lab-screen.txt). Everything started is
# stopped. Usage: lab-tmux-smoke.sh PATH_TO_GATEHOUSE
set -euo pipefail
cd "$(dirname "$0")/.."
bin=$(realpath "${1:-.build/debug/gatehouse}")
command -v tmux >/dev/null || { echo "lab-tmux-smoke: tmux is not installed"; exit 1; }
mkdir -p artifacts
work=$(mktemp -d)
socket="$work/tmux.sock"
session=lab
cleanup() {
    tmux -S "$socket" kill-server 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

# A shell in an 200x50 terminal; the game runs in it, then the shell reports the exit code and stty.
tmux -S "$socket" -f /dev/null new-session -d -s "$session" -x 200 -y 50 "bash --norc --noprofile"
tmux -S "$socket" set-option -t "$session" history-limit 20000 >/dev/null
screen() { tmux -S "$socket" capture-pane -p -J -S - -t "$session"; }
# Waits (up to $2 seconds) until the screen shows the text $1; the screen is printed on a timeout.
wait_for() {
    local text=$1 limit=${2:-60} waited=0 mode=${3:--F}
    until screen | grep -q "$mode" -- "$text"; do
        sleep 0.2
        waited=$((waited + 1))
        if [ "$waited" -ge $((limit * 5)) ]; then
            screen | tail -40
            echo "lab-tmux-smoke: '$text' did not appear within ${limit}s"
            exit 1
        fi
    done
}
# How many times the text is on the screen (the menu is drawn once per move).
count() { screen | grep -cF -- "$1" || true; }
keys() { tmux -S "$socket" send-keys -t "$session" "$@"; }

keys "$bin lab keepalive-race --transcript $work/transcript.txt; echo \"lab-exit=\$?\"; stty -a | grep -o -- '-\\?echo ' | head -1" Enter
wait_for "What do you do?" 90
wait_for "The symptom, a real request through it:"
screen | grep -q "HTTP/1.1 502 Bad Gateway" || { screen | tail -40; echo "no 502 symptom"; exit 1; }

keys 2                                      # run doctor (by number)
wait_for "--- Move 1: Run doctor on the upstream" 60
until [ "$(count 'What do you do?')" -ge 2 ]; do sleep 0.2; done

keys Down Down Down Down Down Enter        # from 1 down to 6 (arrows), Enter: the edit menu
wait_for "Which setting do you change?" 30
keys 1                                      # pool.idle_timeout → 300ms
wait_for "--- Move 2: Edit a setting: pool.idle_timeout: 30s → 300ms" 60
until [ "$(count 'What do you do?')" -ge 3 ]; do sleep 0.2; done

keys 9                                      # retry the request
wait_for "^lab-exit=[0-9]" 60 -E
screen > artifacts/lab-screen.txt
grep -qF "*** Congratulations! You fixed it. ***" artifacts/lab-screen.txt || { tail -40 artifacts/lab-screen.txt; echo "no win screen"; exit 1; }
grep -qF "Moves taken: 3 (2,6.1,9)" artifacts/lab-screen.txt || { tail -40 artifacts/lab-screen.txt; echo "unexpected moves"; exit 1; }
grep -qF "lab-exit=0" artifacts/lab-screen.txt || { tail -20 artifacts/lab-screen.txt; echo "gatehouse lab did not exit 0 on a win"; exit 1; }
# Raw mode was left: stty reports "echo", not "-echo".
grep -qE "^echo $" artifacts/lab-screen.txt || { tail -5 artifacts/lab-screen.txt; echo "the terminal was left in raw mode"; exit 1; }
cp "$work/transcript.txt" artifacts/lab-transcript.txt

# Ctrl-C in the middle of a game, in a fresh terminal: the game ends (exit 1, not a win), the
# scenario is stopped and the terminal is out of raw mode again.
tmux -S "$socket" kill-session -t "$session"
session=lab2
tmux -S "$socket" -f /dev/null new-session -d -s "$session" -x 200 -y 50 "bash --norc --noprofile"
keys "$bin lab upstream-down; echo \"lab-exit=\$?\"; stty -a | grep -o -- '-\\?echo ' | head -1" Enter
wait_for "What do you do?" 90
keys C-c
wait_for "^lab-exit=[0-9]" 60 -E
screen | grep -qF "lab-exit=1" || { screen | tail -20; echo "Ctrl-C did not end the game with exit 1"; exit 1; }
screen | grep -qF "*** Game over" || { screen | tail -20; echo "Ctrl-C did not show the end screen"; exit 1; }
screen | grep -qE "^echo $" || { screen | tail -5; echo "the terminal was left in raw mode after Ctrl-C"; exit 1; }
# The scripted mode, output to a file (not a terminal): a win exits 0, a losing script exits 1,
# and neither writes an escape code.
"$bin" lab upstream-down --moves 1,5,9 >"$work/won.txt" 2>&1 || { cat "$work/won.txt"; echo "the scripted win did not exit 0"; exit 1; }
grep -qF "*** Congratulations! You fixed it. ***" "$work/won.txt" || { cat "$work/won.txt"; echo "no win in the scripted transcript"; exit 1; }
set +e
"$bin" lab upstream-down --moves 6.1,9,0 >"$work/lost.txt" 2>&1
lost=$?
set -e
[ "$lost" -eq 1 ] || { cat "$work/lost.txt"; echo "a losing script exited $lost, not 1"; exit 1; }
grep -qF "*** Game over" "$work/lost.txt" || { cat "$work/lost.txt"; echo "no game-over screen"; exit 1; }
if grep -q $'\x1b' "$work/won.txt" "$work/lost.txt"; then echo "escape codes written to a file"; exit 1; fi

echo "lab-tmux-smoke: keepalive-race won through tmux send-keys; transcript in artifacts/lab-transcript.txt"

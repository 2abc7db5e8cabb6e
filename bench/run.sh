#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Builds the benchmark programs and runs each, in this one run, on native code (gcc -O2), node
# (V8), wabt's wasm-interp and Capsule (capsule-bench, fuel metering off and on; `capsule run`
# on the WASI build once the CLI runs WASI commands), then prints median times, ratios to native
# and a geometric-mean row. It never asserts: it measures. Not a test.
#
# Environment:
#   BENCH_ROUNDS=3      rounds; each runs every program on every runner once (interleaved)
#   BENCH_REPS=3        timed calls per in-process runner and round (after one warm-up call)
#   BENCH_PROC_REPS=5   process runs for the start-up measurements
# Medians are taken over all samples of all rounds (ROUNDS*REPS calls in process, ROUNDS
# processes for the runners timed from outside: wasm-interp, wasm3, iwasm).
#   BENCH_PROGRAMS="…"  subset of bench/programs to run (default: all but startup)
#   BENCH_SKIP="…"      columns to leave out, e.g. "wasm-interp node-wasi"
#   WASM3=/path/wasm3   add a column for a locally built wasm3 (`wasm3 --func run M.wasm`)
#   IWASM=/path/iwasm   add a column for a locally built WAMR iwasm (`iwasm -f run M.wasm`)
#   BENCH_TIMEOUT=600   seconds before one runner invocation is abandoned
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

ROUNDS=${BENCH_ROUNDS:-3}
REPS=${BENCH_REPS:-3}
PROC_REPS=${BENCH_PROC_REPS:-5}
TIMEOUT=${BENCH_TIMEOUT:-600}
OUT=build/bench
ALL_PROGRAMS=$(cd bench/programs && ls ./*.c | sed 's|^\./||; s|\.c$||' | grep -vx startup | tr '\n' ' ')
PROGRAMS=${BENCH_PROGRAMS:-$ALL_PROGRAMS}

SYSROOT=$(bash scripts/setup.sh)

quiet() {
    local log
    log=$(mktemp)
    if ! "$@" >"$log" 2>&1; then
        cat "$log" >&2
        rm -f "$log"
        echo "bench: failed: $*" >&2
        exit 1
    fi
    rm -f "$log"
}

# ---------------------------------------------------------------------------------- build
echo "bench: building (release preset, programs in $OUT)" >&2
quiet cmake --preset release
# capsule-bench may fail to build while the engine is incomplete; the other columns still run.
CAPSULE_BENCH=build/release/bench/capsule-bench
if ! cmake --build --preset release >"$OUT.build.log" 2>&1; then
    echo "bench: the release build failed (see $OUT.build.log); Capsule columns will be n/a" >&2
fi
rm -f "$OUT.build.log" 2>/dev/null || true
mkdir -p "$OUT/native" "$OUT/wasm" "$OUT/wasi"
CFLAGS=(-O2 -std=c11 -Wall -Wextra -Werror)
for p in $PROGRAMS startup; do
    src=bench/programs/$p.c
    quiet gcc "${CFLAGS[@]}" -o "$OUT/native/$p" "$src" bench/main.c -lm
    # (b) wasm32, imports nothing, exports run: every engine can run it.
    quiet clang-19 --target=wasm32 -nostdlib "${CFLAGS[@]}" -Wl,--no-entry -Wl,--export=run \
        -o "$OUT/wasm/$p.wasm" "$src" bench/minilibc.c
    # (c) a WASI command (bench/main.c times itself inside the guest).
    quiet clang-19 --target=wasm32-wasi --sysroot="$SYSROOT" "${CFLAGS[@]}" \
        -o "$OUT/wasi/$p.wasm" "$src" bench/main.c -lm
done

# node < 20 needs a flag for node:wasi.
NODE_WASI_FLAGS=(--no-warnings)
if [ "$(node -p 'process.versions.node.split(".")[0]')" -lt 20 ]; then
    NODE_WASI_FLAGS+=(--experimental-wasi-unstable-preview1)
fi

# ---------------------------------------------------------------------------------- columns
COLUMNS_=(native node wasm-interp capsule capsule+fuel)
[ -n "${WASM3:-}" ] && COLUMNS_+=(wasm3)
[ -n "${IWASM:-}" ] && COLUMNS_+=(wamr)
COLUMNS_+=(node-wasi capsule-wasi)
cols=()
for c in "${COLUMNS_[@]}"; do
    case " ${BENCH_SKIP:-} " in *" $c "*) ;; *) cols+=("$c") ;; esac
done

declare -A T R F LOAD SAMPLES BASE
median() {
    tr ' ' '\n' | awk NF | sort -n |
        awk '{a[NR] = $1} END { if (NR) print (NR % 2) ? a[(NR + 1) / 2] : int((a[NR / 2] + a[NR / 2 + 1]) / 2) }'
}

# Runs a runner that times itself (ns= lines, result=) once; adds its times to the key's samples.
inproc() {
    local key=$1 out
    shift
    if out=$(timeout "$TIMEOUT" "$@" 2>/dev/null); then
        SAMPLES[$key]+=" $(grep '^ns=' <<<"$out" | cut -d= -f2 | tr '\n' ' ')"
        R[$key]=$(grep '^result=' <<<"$out" | cut -d= -f2)
        F[$key]=$(grep '^fuel=' <<<"$out" | cut -d= -f2 || true)
        LOAD[$key]+=" $(grep '^load_ns=' <<<"$out" | cut -d= -f2 || true)"
    else
        R[$key]=FAILED
    fi
}

# Wall time (ns) of one run of a command as a whole process in WALL_NS ("" when it failed), and
# its output in LAST_OUT.
WALL_NS="" LAST_OUT=""
wall() {
    local s e
    WALL_NS=""
    s=$(date +%s%N)
    LAST_OUT=$(timeout "$TIMEOUT" "$@" 2>&1) || return 0
    e=$(date +%s%N)
    WALL_NS=$((e - s))
}

# Runs a runner that cannot time itself once: `proc KEY SED MODULE CMD...` runs CMD... MODULE as a
# whole process and adds its wall time minus the same runner's median time on the startup
# program (process start, load and instantiation: measured once, PROC_REPS runs), so that these
# columns compare with the in-process ones. SED extracts run's result from the output; signed
# and hexadecimal results are normalised to unsigned 32-bit.
proc() {
    local key=$1 sedscript=$2 module=$3 engine=${1%%|*} t res base=""
    shift 3
    if [ -z "${BASE[$engine]+set}" ]; then
        for ((i = 0; i < PROC_REPS; i++)); do
            wall "$@" "$OUT/wasm/startup.wasm"
            base+=" $WALL_NS"
        done
        BASE[$engine]=$(median <<<"$base")
    fi
    wall "$@" "$module"
    t=$WALL_NS
    if [ -z "$t" ]; then
        R[$key]=FAILED
        return 0
    fi
    res=$(sed -n "$sedscript" <<<"$LAST_OUT" | head -n 1)
    [ -n "$res" ] && res=$(((res + 4294967296) % 4294967296))
    t=$((t - ${BASE[$engine]:-0}))
    SAMPLES[$key]+=" $((t > 0 ? t : 1))"
    R[$key]=$res
}

run_column() {
    local c=$1 p=$2 key="$1|$2"
    case $c in
    native) inproc "$key" "$OUT/native/$p" "$REPS" ;;
    node) inproc "$key" node bench/node_bench.mjs "$OUT/wasm/$p.wasm" "$REPS" ;;
    wasm-interp) proc "$key" 's/^run() => i32:\(-\{0,1\}[0-9]*\).*/\1/p' "$OUT/wasm/$p.wasm" \
        wasm-interp --run-all-exports ;;
    capsule) [ -x "$CAPSULE_BENCH" ] && inproc "$key" "$CAPSULE_BENCH" --iters "$REPS" "$OUT/wasm/$p.wasm" ;;
    capsule+fuel) [ -x "$CAPSULE_BENCH" ] && inproc "$key" "$CAPSULE_BENCH" --fuel --iters "$REPS" "$OUT/wasm/$p.wasm" ;;
    wasm3) proc "$key" 's/^Result: \(-\{0,1\}[0-9]*\).*/\1/p' "$OUT/wasm/$p.wasm" "$WASM3" --func run ;;
    wamr) proc "$key" 's/^\(-\{0,1\}\(0x\)\{0,1\}[0-9a-fA-F]*\):i32$/\1/p' "$OUT/wasm/$p.wasm" "$IWASM" -f run ;;
    node-wasi) inproc "$key" node "${NODE_WASI_FLAGS[@]}" bench/node_bench.mjs --wasi "$OUT/wasi/$p.wasm" "$REPS" ;;
    capsule-wasi) [ -x build/release/capsule ] && inproc "$key" build/release/capsule run "$OUT/wasi/$p.wasm" "$REPS" ;;
    esac
    return 0
}

# ---------------------------------------------------------------------------------- run
# Rounds interleave the runners, so that a change in the machine's load over the run touches
# every column alike instead of whichever runner happened to be running.
for ((round = 1; round <= ROUNDS; round++)); do
    for p in $PROGRAMS; do
        echo "bench: round $round/$ROUNDS: $p" >&2
        for c in "${cols[@]}"; do
            run_column "$c" "$p"
        done
    done
done
for key in "${!SAMPLES[@]}"; do
    if [ "${R[$key]:-}" != FAILED ]; then
        T[$key]=$(median <<<"${SAMPLES[$key]}")
    fi
    if [ -n "${LOAD[$key]:-}" ]; then
        LOAD[$key]=$(median <<<"${LOAD[$key]}")
    fi
done

# ---------------------------------------------------------------------------------- report
cell() { # median ms and ratio to native, or why there is none
    local c=$1 p=$2 t=${T[$1|$2]:-} r=${R[$1|$2]:-} nt=${T[native|$2]:-} nr=${R[native|$2]:-}
    if [ "$r" = FAILED ]; then
        echo "failed"
    elif [ -z "$t" ]; then
        echo "n/a"
    elif [ "$r" != "$nr" ]; then
        echo "WRONG($r)"
    elif [ "$c" = native ]; then
        awk -v t="$t" 'BEGIN { printf "%.2fms", t / 1e6 }'
    else
        awk -v t="$t" -v n="$nt" 'BEGIN { printf "%.2fms x%.1f", t / 1e6, t / n }'
    fi
}

echo
echo "Median time per run of run() (x = ratio to native gcc -O2). In-process timing for native,"
echo "node, capsule* ($ROUNDS rounds of $REPS calls); wasm-interp, wasm3 and wamr are timed as whole"
echo "processes ($ROUNDS runs each),"
echo "minus the same engine's time for the start-up program."
echo "The *-wasi columns run the WASI build, which uses wasi-libc instead of bench/minilibc.c."
printf '%-9s' program
for c in "${cols[@]}"; do printf ' | %-16s' "$c"; done
echo
for p in $PROGRAMS; do
    printf '%-9s' "$p"
    for c in "${cols[@]}"; do printf ' | %-16s' "$(cell "$c" "$p")"; done
    echo
done
printf '%-9s' geomean
for c in "${cols[@]}"; do
    g=$(for p in $PROGRAMS; do
        t=${T[$c|$p]:-}
        if [ -n "$t" ] && [ "${R[$c|$p]:-}" = "${R[native|$p]:-}" ]; then echo "$t ${T[native|$p]}"; fi
    done | awk -v all="$(wc -w <<<"$PROGRAMS")" '{ s += log($1 / $2); n++ }
        END { if (n) printf "x%.2f%s", exp(s / n), (n < all ? " (" n " progs)" : ""); else printf "n/a" }')
    printf ' | %-16s' "$g"
done
echo

if [ -x "$CAPSULE_BENCH" ]; then
    echo
    echo "Capsule details: load = decode + validate + compile; fuel = operators executed per run."
    printf '%-9s | %-10s | %-14s | %-12s | %s\n' program load fuel/run "ns/op" "fuel overhead"
    for p in $PROGRAMS; do
        f=${F[capsule+fuel|$p]:-}
        printf '%-9s | %-10s | %-14s | %-12s | %s\n' "$p" \
            "$(awk -v l="${LOAD[capsule|$p]:-}" 'BEGIN { if (l == "") print "n/a"; else printf "%.3fms", l / 1e6 }')" \
            "${f:-n/a}" \
            "$(awk -v t="${T[capsule+fuel|$p]:-}" -v f="$f" 'BEGIN { if (t == "" || f == "" || f == 0) print "n/a"; else printf "%.2f", t / f }')" \
            "$(awk -v a="${T[capsule|$p]:-}" -v b="${T[capsule+fuel|$p]:-}" 'BEGIN { if (a == "" || b == "") print "n/a"; else printf "%+.1f%%", (b / a - 1) * 100 }')"
    done
fi

# Start-up: a whole process running the tiny startup program (load, instantiate, one call).
echo
echo "Start-up: median wall time of a whole process running bench/programs/startup.c ($PROC_REPS runs);"
echo "the /bin/true row is this machine's cost of starting any process."
startup_cmds=(
    "/bin/true|/bin/true"
    "native|$OUT/native/startup 0"
    "node|node bench/node_bench.mjs $OUT/wasm/startup.wasm 0"
    "wasm-interp|wasm-interp --run-all-exports $OUT/wasm/startup.wasm"
)
[ -x "$CAPSULE_BENCH" ] && startup_cmds+=("capsule|$CAPSULE_BENCH --iters 0 $OUT/wasm/startup.wasm")
[ -n "${WASM3:-}" ] && startup_cmds+=("wasm3|$WASM3 --func run $OUT/wasm/startup.wasm")
[ -n "${IWASM:-}" ] && startup_cmds+=("wamr|$IWASM -f run $OUT/wasm/startup.wasm")
[ -x build/release/capsule ] && startup_cmds+=("capsule-wasi|build/release/capsule run $OUT/wasi/startup.wasm 0")
for entry in "${startup_cmds[@]}"; do
    name=${entry%%|*}
    read -r -a cmd <<<"${entry#*|}"
    times=()
    ok=1
    for ((i = 0; i < PROC_REPS; i++)); do
        s=$(date +%s%N)
        if ! timeout "$TIMEOUT" "${cmd[@]}" >/dev/null 2>&1; then
            ok=0
            break
        fi
        e=$(date +%s%N)
        times+=($((e - s)))
    done
    if ((ok)); then
        printf '%-13s %s\n' "$name" "$(printf '%s\n' "${times[@]}" | median | awk '{ printf "%.2fms", $1 / 1e6 }')"
    else
        printf '%-13s %s\n' "$name" "failed"
    fi
done

# roost sampler, bash flavour. Args: INTERVAL_US PROCFS SYSFS STATIC DYNAMIC LINKS
# (the last three: newline-separated root-relative globs from collectors/fileset.py).
# Writes collectors/frame.py frames to stdout. Nothing forks per sample: files are read with the
# read builtin, the clock is $EPOCHREALTIME, the sleep is `read -t` on a pipe nobody writes to.
# Each file goes out behind its length in bytes (LC_ALL=C: ${#v} counts bytes, not characters),
# so no byte inside a file can pass for framing. Exits as soon as a write fails (the session is gone).
LC_ALL=C
us=$1 P=${2%/} S=${3%/}
[ -n "$P" ] || P=/
[ -n "$S" ] || S=/
RS=$'\x1e' NL=$'\n' IFS=$'\n'
shopt -s nullglob
exec 2>/dev/null
set -f; static=($4) dynamic=($5) linkpats=($6); set +f
here=$PWD

# key and path arrays for the patterns after $1 (the test: -f files, -L links):
# K[i] is "proc/..." or "sys/...", F[i] the path
expand() {
    K=() F=()
    local pat root rel f t=$1
    shift
    for pat in "$@"; do
        case $pat in
            proc/*) root=$P rel=${pat#proc/} ;;
            sys/*) root=$S rel=${pat#sys/} ;;
            *) continue ;;
        esac
        for f in "$root"/$rel; do
            [[ ${f#"$root"/} == *[$NL$RS]* ]] && continue   # a name that could pass for framing
            [[ $t == -L && -L $f || $t == -f && -f $f && -r $f ]] && K+=("${pat%%/*}/${f#"$root"/}") F+=("$f")
        done
    done
}

# the physical path of a root ("" when it does not exist)
physical() { cd -P -- "$1" 2>/dev/null && REPLY=$PWD || REPLY=; cd -- "$here"; }

# L records: each link resolved fully (cd -P), root-relative when under a root
links() {
    local i t pp sp
    physical "$P"; pp=$REPLY
    physical "$S"; sp=$REPLY
    expand -L "${linkpats[@]}"
    for i in "${!F[@]}"; do
        physical "${F[i]}"; t=$REPLY
        [[ -n $t && $t != *[$NL$RS]* ]] || continue
        if [[ -n $sp && $t == "$sp"/* ]]; then t=sys/${t#"$sp"/}
        elif [[ -n $pp && $t == "$pp"/* ]]; then t=proc/${t#"$pp"/}
        fi
        out+="${RS}L ${K[i]} $t$NL"
    done
}

# append one record per readable file, its length first; r stays 9 when the file could not be
# opened. Every file the sampler sends goes through here (static and dynamic alike).
records() {
    local i r v kind=$1
    for i in "${!F[@]}"; do
        r=9
        { IFS= read -r -d '' v; r=$?; } < "${F[i]}"
        [[ $r == 9 ]] || out+="$RS$kind ${#v} ${K[i]}$NL$v"
    done
}

clock() {
    if [[ -n $EPOCHREALTIME ]]; then REPLY=${EPOCHREALTIME/,/.}
    else printf -v REPLY '%(%s)T' -1
    fi
}

seq=0
clock
out="${RS}H 0 $REPLY$NL"
links
expand -f "${static[@]}"
records S
expand -f "${dynamic[@]}"  # K and F hold the dynamic set from here on
exec {idle}<> <(:)
# ticks fall on wall-clock multiples of the interval: NTP-synced nodes sample at the same
# instants, and the console gets each tick's frames together (fewer wake-ups)
next=${EPOCHREALTIME//[!0-9]/}
[[ -z $next ]] || ((next = next / us * us))
while :; do
    if ((seq > 0)); then
        clock
        out="${RS}H $seq $REPLY$NL"
    fi
    records F
    out+="${RS}E $seq$NL"
    printf '%s' "$out" || exit 0
    ((seq++))
    if [[ -n $next ]]; then
        # sleep until the next tick; when late (suspend, overload) skip the missed ones
        ((next += us))
        now=${EPOCHREALTIME//[!0-9]/}
        ((next > now)) || ((next = (now / us + 1) * us))
        ((rem = next - now))
        printf -v t '%d.%06d' $((rem / 1000000)) $((rem % 1000000))
    else
        printf -v t '%d.%06d' $((us / 1000000)) $((us % 1000000))
    fi
    read -r -t "$t" -u "$idle" _
done

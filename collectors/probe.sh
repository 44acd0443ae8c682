# roost sampler, bash flavour. Args: INTERVAL_US PROCFS SYSFS STATIC DYNAMIC LINKS SLOW SLOW_TICKS
# COMMAND... (STATIC DYNAMIC LINKS SLOW: newline-separated root-relative globs from
# collectors/fileset.py; each COMMAND is "KEY once|slow", a newline, and a POSIX sh script).
# Writes collectors/frame.py frames to stdout. Nothing forks per sample: files are read with the
# mapfile (or read) builtin, the clock is $EPOCHREALTIME, the sleep is `read -t` on a pipe nobody
# writes to. Each file goes out behind its length in bytes (LC_ALL=C: ${#v} counts bytes, not
# characters), so no byte inside a file can pass for framing. Slow files are re-read every
# SLOW_TICKS frames and sent as remembered (S) records; commands run in the background (once, or
# every slow tick) and their output joins the frame they finish in.
# Exits as soon as a write fails (the session is gone).
LC_ALL=C
us=$1 P=${2%/} S=${3%/} slow=${8:-1}
[ -n "$P" ] || P=/
[ -n "$S" ] || S=/
R=  # the root etc/ and usr/ are read under: /host for a procfs of /host/proc, else /
[[ $P != */proc ]] || R=${P%/proc}
RS=$'\x1e' NL=$'\n' IFS=$'\n'
shopt -s nullglob
exec 2>/dev/null
set -f; static=($4) dynamic=($5) linkpats=($6) slowpats=($7); set +f
here=$PWD
ckey=() cwhen=() cscript=() cfd=()
for c in "${@:9}"; do
    head=${c%%"$NL"*}
    ckey+=("${head%% *}") cwhen+=("${head#* }") cscript+=("${c#*"$NL"}") cfd+=("")
done

# append to the key and path arrays the matches of the patterns after $1 (the test: -f files,
# -L links): K[i] is "proc/...", "sys/..." or "etc/...", F[i] the path
expand() {
    local pat root rel f t=$1
    shift
    for pat in "$@"; do
        case $pat in
            proc/*) root=$P rel=${pat#proc/} ;;
            sys/*) root=$S rel=${pat#sys/} ;;
            etc/*|usr/*) root=$R/${pat%%/*} rel=${pat#*/} ;;
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
    K=() F=()
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

# append one record per readable file of F[from..to), its length first; r stays 9 when the file
# could not be opened. Every file the sampler sends goes through here (static, dynamic, slow).
# mapfile -d '' (bash >= 4.4) takes a file whole in half the time of read -d '' (which looks at
# every byte); both stop at a NUL byte, as the device-tree strings have one.
if ((BASH_VERSINFO[0] * 100 + BASH_VERSINFO[1] >= 404)); then
    records() {
        local i r a kind=$1
        for ((i = $2; i < $3; i++)); do
            r=9
            { mapfile -d '' a; r=$?; } < "${F[i]}"
            [[ $r == 9 ]] || out+="$RS$kind ${#a[0]} ${K[i]}$NL${a[0]}"
        done
    }
else
    records() {
        local i r v kind=$1
        for ((i = $2; i < $3; i++)); do
            r=9
            { IFS= read -r -d '' v; r=$?; } < "${F[i]}"
            [[ $r == 9 ]] || out+="$RS$kind ${#v} ${K[i]}$NL$v"
        done
    }
fi

# start command i in the background unless it still runs; poll collects its output
launch() {
    local fd
    [[ -z ${cfd[$1]} ]] || return
    exec {fd}< <(exec sh -c "${cscript[$1]}" roost-cmd "$P" "$S")
    cfd[$1]=$fd
}

# an S record for every command whose output is complete (its pipe is readable: data or EOF)
poll() {
    local i fd v
    for i in "${!cfd[@]}"; do
        fd=${cfd[i]}
        [[ -n $fd ]] && read -r -t 0 -u "$fd" || continue
        v=
        IFS= read -r -d '' -u "$fd" v
        exec {fd}<&-
        cfd[i]=
        out+="${RS}S ${#v} ${ckey[i]}$NL$v"
    done
}

clock() {
    if [[ -n $EPOCHREALTIME ]]; then REPLY=${EPOCHREALTIME/,/.}
    else printf -v REPLY '%(%s)T' -1
    fi
}

seq=0
clock
head="H 0 $REPLY" out=
links
K=() F=()
expand -f "${static[@]}"
records S 0 ${#F[@]}
K=() F=()
expand -f "${dynamic[@]}"  # K and F hold the dynamic set, then the slow set, from here on
nd=${#F[@]}
expand -f "${slowpats[@]}"
ns=${#F[@]}
for i in "${!cwhen[@]}"; do
    [[ ${cwhen[i]} != once ]] || launch "$i"
done
exec {idle}<> <(:)
# ticks fall on wall-clock multiples of the interval: NTP-synced nodes sample at the same
# instants, and the console gets each tick's frames together (fewer wake-ups)
next=${EPOCHREALTIME//[!0-9]/}
[[ -z $next ]] || ((next = next / us * us))
while :; do
    if ((seq > 0)); then
        clock
        head="H $seq $REPLY" out=
    fi
    pre=$out out=
    records F 0 "$nd"
    dyn=$out out=$pre
    if ((seq % slow == 0)); then
        records S "$nd" "$ns"
        for i in "${!cwhen[@]}"; do
            [[ ${cwhen[i]} != slow ]] || launch "$i"
        done
    fi
    poll
    # remembered records first, this tick's files last: the reader keeps the first and takes
    # the run of dynamic files whole (the dynamic files are still read first, at the tick)
    out+=$dyn
    # the header says how many bytes of records follow: the reader finds the frame's end
    # without walking its records (no file's bytes can move it)
    printf '%s' "${RS}$head ${#out}$NL$out${RS}E $seq$NL" || exit 0
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

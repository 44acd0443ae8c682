# roost sampler, POSIX sh flavour (nodes without bash). Same args and frames as probe.sh.
# Files are read with the read builtin; the clock (date) and the sleep fork once per sample.
# Each file goes out behind its length in bytes (LC_ALL=C, exported by the launcher too, so a
# shell with multibyte support counts bytes). Commands run in the foreground here (no background
# pipes in POSIX sh), once or every slow tick. Exits as soon as a write fails (the session is gone).
LC_ALL=C; export LC_ALL
us=$1 P=${2%/} S=${3%/} slow=${8:-1}
[ -n "$P" ] || P=/
[ -n "$S" ] || S=/
R=  # the root etc/ and usr/ are read under: /host for a procfs of /host/proc, else /
case $P in */proc) R=${P%/proc} ;; esac
RS=$(printf '\036') US=$(printf '\037') NL='
'
exec 2>/dev/null
here=$PWD

# LIST: one "key<US>path" line per match of the patterns in $2 passing test $1 (-f or -L)
expand() {
    LIST=
    set -f; oldifs=$IFS; IFS=$NL
    for pat in $2; do
        case $pat in
            proc/*) root=$P rel=${pat#proc/} ;;
            sys/*) root=$S rel=${pat#sys/} ;;
            etc/*|usr/*) root=$R/${pat%%/*} rel=${pat#*/} ;;
            *) continue ;;
        esac
        IFS=$oldifs; set +f
        for f in "$root"/$rel; do
            case ${f#"$root"/} in *"$NL"*|*"$RS"*|*"$US"*) continue ;; esac   # could pass for framing
            if [ "$1" = -L ]; then [ -L "$f" ]; else [ -f "$f" ] && [ -r "$f" ]; fi &&
                LIST="$LIST${pat%%/*}/${f#"$root"/}$US$f$NL"
        done
        set -f; IFS=$NL
    done
    IFS=$oldifs; set +f
}

# the physical path of a directory ("" when it does not exist); cd -P leaves it in PWD
physical() { REPLY=; cd -P -- "$1" && REPLY=$PWD; cd -- "$here"; }

links() {
    physical "$P"; pp=$REPLY
    physical "$S"; sp=$REPLY
    expand -L "$1"
    set -f; oldifs=$IFS; IFS=$NL
    for line in $LIST; do
        k=${line%%"$US"*} f=${line#*"$US"}
        physical "$f"; t=$REPLY
        case $t in ''|*"$NL"*|*"$RS"*) continue ;; esac
        if [ -n "$sp" ] && [ "${t#"$sp"/}" != "$t" ]; then t=sys/${t#"$sp"/}
        elif [ -n "$pp" ] && [ "${t#"$pp"/}" != "$t" ]; then t=proc/${t#"$pp"/}
        fi
        out="$out${RS}L $k $t$NL"
    done
    IFS=$oldifs; set +f
}

# the whole file in v, byte for byte (a last line without newline stays without one)
slurp() {
    v= l=
    while IFS= read -r l; do v="$v$l$NL"; done
    v="$v$l"
}

# one record per readable file, its length first: every file the sampler sends goes through here
records() {
    kind=$1
    set -f; oldifs=$IFS; IFS=$NL
    for line in $2; do
        k=${line%%"$US"*} f=${line#*"$US"}
        r=9
        { slurp; r=0; } < "$f"
        [ "$r" = 9 ] || out="$out$RS$kind ${#v} $k$NL$v"
    done
    IFS=$oldifs; set +f
}

# run the commands whose cadence is $1 ("once" or "slow"); each output becomes an S record.
# The list is the script's own "$@" after the eight fixed arguments.
commands() {
    when=$1
    shift
    for c in "$@"; do
        head=${c%%"$NL"*}
        [ "${head#* }" = "$when" ] || continue
        v=$(sh -c "${c#*"$NL"}" roost-cmd "$P" "$S"; echo .)
        v=${v%.}
        out="$out${RS}S ${#v} ${head%% *}$NL$v"
    done
}

now=$(date +%s.%N)
case $now in *N*|'') fmt=+%s ;; *) fmt=+%s.%N ;; esac
secs=$((us / 1000000)).$(printf '%06d' $((us % 1000000)))
seq=0
out="${RS}H 0 $(date $fmt)$NL"
links "$6"
expand -f "$4"
records S "$LIST"
expand -f "$5"
DYNAMIC=$LIST
expand -f "$7"
SLOW=$LIST
shift 8
commands once "$@"
while :; do
    [ "$seq" = 0 ] || out="${RS}H $seq $(date $fmt)$NL"
    records F "$DYNAMIC"
    if [ $((seq % slow)) = 0 ]; then
        records S "$SLOW"
        commands slow "$@"
    fi
    out="$out${RS}E $seq$NL"
    printf '%s' "$out" || exit 0
    seq=$((seq + 1))
    sleep "$secs" || exit 0
done

# roost sampler, POSIX sh flavour (nodes without bash). Same args and frames as probe.sh.
# Files are read with the read builtin; the clock (date) and the sleep fork once per sample.
# Each file goes out behind its length in bytes (LC_ALL=C, exported by the launcher too, so a
# shell with multibyte support counts bytes). Exits as soon as a write fails (the session is gone).
LC_ALL=C; export LC_ALL
us=$1 P=${2%/} S=${3%/}
[ -n "$P" ] || P=/
[ -n "$S" ] || S=/
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
while :; do
    [ "$seq" = 0 ] || out="${RS}H $seq $(date $fmt)$NL"
    records F "$DYNAMIC"
    out="$out${RS}E $seq$NL"
    printf '%s' "$out" || exit 0
    seq=$((seq + 1))
    sleep "$secs" || exit 0
done

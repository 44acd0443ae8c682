# bash completion for roost (roost completion bash). Install:
#   roost completion bash > ~/.local/share/bash-completion/completions/roost
# or add to ~/.bashrc:  eval "$(roost completion bash)"
# Node names, @groups and job ids come from `roost __complete` (config and local queue, no SSH).
_roost_spec='@SPEC@'

_roost() {
    local cur=${COMP_WORDS[COMP_CWORD]} out IFS=$'\n'
    out=$(command "${COMP_WORDS[0]}" __complete "$_roost_spec" \
          "${COMP_WORDS[@]:1:COMP_CWORD-1}" "$cur" 2>/dev/null) || return 0
    case $out in
        @files) compopt -o filenames 2>/dev/null; COMPREPLY=($(compgen -f -- "$cur")) ;;
        @dirs) compopt -o filenames 2>/dev/null; COMPREPLY=($(compgen -d -- "$cur")) ;;
        *) COMPREPLY=($out) ;;
    esac
}
complete -F _roost roost

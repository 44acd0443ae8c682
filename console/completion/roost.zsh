#compdef roost
# zsh completion for roost (roost completion zsh). Install:
#   roost completion zsh > "${fpath[1]}/_roost"
# or in ~/.zshrc after compinit:  source <(roost completion zsh)
# Node names, @groups and job ids come from `roost __complete` (config and local queue, no SSH).
_roost_spec='@SPEC@'

_roost() {
    local -a out
    out=("${(@f)$(command ${(Q)words[1]} __complete "$_roost_spec" \
          "${(@Q)words[2,CURRENT-1]}" "${(Q)PREFIX}" 2>/dev/null)}")
    case ${out[1]} in
        @files) _files ;;
        @dirs) _files -/ ;;
        *) (( ${#out[@]} )) && [[ -n ${out[1]} ]] && compadd -- "${out[@]}" ;;
    esac
}

if [[ ${funcstack[1]} == _roost ]]; then
    _roost "$@"
else
    compdef _roost roost
fi

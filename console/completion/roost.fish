# fish completion for roost (roost completion fish). Install:
#   roost completion fish > ~/.config/fish/completions/roost.fish
# Node names, @groups and job ids come from `roost __complete` (config and local queue, no SSH).
set -g __roost_spec '@SPEC@'

function __roost_complete
    set -l words (commandline -opc)
    set -l cur (commandline -ct)
    set -l out (command $words[1] __complete $__roost_spec $words[2..-1] $cur 2>/dev/null)
    switch "$out[1]"
        case @files
            __fish_complete_path $cur
        case @dirs
            __fish_complete_directories $cur
        case '*'
            printf '%s\n' $out
    end
end

complete -c roost -f -a '(__roost_complete)'

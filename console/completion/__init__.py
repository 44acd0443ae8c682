"""Shell completion for bash, zsh and fish: `roost completion bash|zsh|fish` prints a script.

The script holds a compact spec of roost's commands, flags and what each argument takes, made
from the real argparse parser when the script is printed (spec.py). On TAB the shell runs
`roost __complete SPEC WORD... CURRENT`; engine.py walks the words over the spec and prints one
candidate a line: subcommands, flags, choices, node names and @groups (from the config, no SSH),
job ids (from the local queue), or "@files" / "@dirs" to let the shell complete paths
(sources.py). That call is roost's fast path: no parser is built, nothing is contacted.
"""
from __future__ import annotations

import argparse
from pathlib import Path

SHELLS = ("bash", "zsh", "fish")

INSTALL = """install:
  bash  roost completion bash > ~/.local/share/bash-completion/completions/roost
        (or add  eval "$(roost completion bash)"  to ~/.bashrc)
  zsh   roost completion zsh > "${fpath[1]}/_roost"
        (or  source <(roost completion zsh)  after compinit in ~/.zshrc)
  fish  roost completion fish > ~/.config/fish/completions/roost.fish
Node names, @groups and job ids are completed from the config and the local queue (no SSH)."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("shell", choices=SHELLS, metavar="SHELL", help="bash, zsh or fish")
    parser.epilog = INSTALL
    parser.formatter_class = argparse.RawDescriptionHelpFormatter


def script(shell: str, parser: argparse.ArgumentParser) -> str:
    """The completion script for shell, with the spec of parser (roost's own) inside."""
    from console.completion.spec import build_spec
    template = (Path(__file__).parent / f"roost.{shell}").read_text()
    return template.replace("@SPEC@", build_spec(parser))

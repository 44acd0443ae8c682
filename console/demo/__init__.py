"""The simulated fleet behind `roost demo`: real SSH servers, simulated boards, in one process.

    boards.py   board profiles as data (Pi 4, Pi 5, Pi Zero 2 W on a Cluster HAT, RockPro64,
                SOPINE, Turing RK1, x86 mini PC): cores, OPPs, zones, hwmon chips, fans, NICs
    layout.py   a profile's files as the sampler's globs name them, and the real sysfs layout
    sim.py      one board over time: load, thermal time constant, fan curve, throttling,
                under-voltage, counters (with a 32-bit wrap) -> kernel-shaped file contents
    tree.py     write a board to disk (symlinks and all) for --procfs/--sysfs and tests
    node.py     one asyncssh server per node: sampler frames, real commands, shell, SFTP
    shell.py    commands and shells as local processes in the node's directory (an OS
                shutdown command is simulated, never run)
    ticker.py   one timing wheel for every sampler session
    power.py    DemoPowerChannel (off/on with a boot delay, halt, drop-offs) and DemoDriver,
                the `demo` power driver on it
    fleet.py    DemoFleet: keys, known_hosts, nodes, drop-offs, targets()
    control.py  power over a Unix socket, for `roost power` in another process
    inventory.py  the roost.toml a running demo writes (write_inventory(fleet, path))
    runner.py   the fleet on its own loop in a thread (beside run_collect's or Textual's loop)
    cli.py      `roost demo`

UI-free: nothing here imports textual, rich or plotext (cli.py reaches the console lazily).
Imports run one way, top to bottom: cli -> source/runner/inventory -> fleet -> control -> power
-> node -> shell/sim/layout/boards (a test checks there are no cycles).
"""

"""History you can look at: what `roost collect --db` and `roost serve` stored, read back.

    since.py    --since/--until text -> epoch seconds (durations like 1h30m, or ISO 8601 times)
    series.py   a stored series name (`node_hwmon_temp_celsius{chip="x",sensor="temp1"}`) -> parts
    store.py    the read-only SQLite reader: series of some nodes, bucketed by a step, in SQL
    metrics.py  what each --metric reads and derives (cpu % from counters, net rates, labels)
    service.py  one call for the CLI and the node screen: lines of (time, value) per node/label
    chart.py    plotext charts sized to the terminal (the CLI only)
    cli.py      `roost history [NODESET] [--since 1h] [--metric ...] [--csv|--json]`

UI-free except chart.py (plotext), which only the CLI imports.
"""

"""Ray on the fleet, UI-free: start and stop a Ray cluster over roost's SSH connections, and
drive Ray's Job REST API through an SSH port-forward to the head (roost never imports ray).

    parse.py     pure: Ray's JSON documents -> frozen dataclasses, state mapping, error lines
    remote.py    pure: the sh scripts run on a node (probe, start under supervision, stop)
    plan.py      pure: [ray] + what the probe found -> each node's `ray start` argv, checks
    cluster.py   `roost ray up|down|status`: the scripts over SSH, head first, in parallel
    tunnel.py    the SSH forward to the head's dashboard and the httpx client through it
    client.py    the REST calls (jobs, logs, nodes, tasks, actors), each failure one line
    jobs.py      [jobs] backend = "ray": submit/queue/job/cancel on Ray's Job API
    jobs_cli.py  roost submit/queue/job/cancel/suspend/resume when backend = "ray"
    view.py      what the console shows (fleet column, node section, jobs screen), UI-free
    cli.py       the `roost ray up|down|status|logs` subcommand
"""

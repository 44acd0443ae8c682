"""roost's built-in job queue and scheduler (UI-free: no textual/rich/plotext imports).

Modules, from pure to I/O:
  spec        sbatch value parsers: parse_time, parse_mem, parse_array, parse_dependency,
              parse_hostlist, expand_pattern (%j %A %a %x %N %u ...), parse_export; SpecError
  directives  #SBATCH scanning and the sbatch-like flags -> JobSpec (CLI beats directives;
              unknown directives are warnings, bad values one-line errors with FILE:LINE)
  model       JobSpec, Task, State (PENDING RUNNING SUSPENDED COMPLETED FAILED CANCELLED
              TIMEOUT NODE_FAIL), the transition table, squeue reason names
  placement   place(demands, nodes, now): FIFO with EASY backfill over free cores/memory
  deps        dependency verdicts (after, afterany, afterok, afternotok; jobs and array tasks)
  store       Store: SQLite WAL queue shared by the scheduler and CLI clients
  lock        SchedulerLock: flock in the state dir; one scheduler at a time
  remote      the node side: a `sh` agent channel, a `tail -f` events channel, the task
              wrapper (setsid, pid/exit files under ~/.roost/jobs/<queue>/<node>/<job>/)
  scheduler   Scheduler(store, targets, Options, connect): launch, re-attach, fetch outputs,
              cancel/suspend/resume/time limits by process group, NODE_FAIL and requeue;
              fleet_connect(fleet) to use the console's Fleet connections
  service     JobsService (the screens' and app's one jobs object), run_scheduler,
              hold_when_free (standby takeover), queue_dir(config) -> STATE/clusters/NAME;
              queue_view / slurm_view: the async faces the Jobs screens call
  cli         register(subparsers): submit, queue, job, cancel, suspend, resume; each sets
              args.jobs_handler(args, config) -> exit status

[jobs] config keys read here: cores = {node = N} (overrides the node's /proc/stat count),
use_load (default true: live load not caused by roost counts as busy cores), grace (TERM ->
KILL, s), node_fail_after (s unreachable before NODE_FAIL), poll_every, load_every.
"""

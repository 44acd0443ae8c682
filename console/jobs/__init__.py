"""roost's built-in job queue and scheduler (UI-free: no textual/rich/plotext imports).

Modules, from pure to I/O:
  spec        sbatch value parsers: parse_time, parse_mem, parse_array, parse_dependency,
              parse_hostlist, expand_pattern (%j %A %a %x %N %u ...), parse_export,
              parse_begin, parse_nodes, parse_target, signal_name; SpecError
  directives  #SBATCH (and #BSUB) scanning and the sbatch-like flags -> JobSpec (CLI beats
              directives; unknown directives are warnings, bad values one-line errors with
              FILE:LINE); lsf: bsub's flags and #BSUB lines as sbatch values
  model       JobSpec, Task, State (PENDING RUNNING SUSPENDED COMPLETED FAILED CANCELLED
              TIMEOUT NODE_FAIL), the transition table, squeue reason names
  placement   place(demands, nodes, now): FIFO with EASY backfill over free cores/memory;
              multi-node allocations (-N -n --ntasks-per-node --exclusive)
  taskenv     what a task sees: SLURM_*/LSB_* variables, an allocation's hostfile, its cores
  limits      what the node's wrapper enforces: --time, --mem (OUT_OF_MEMORY), pinned cores
  reports     squeue's --format and sacct's rows and --format
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
  location    where a cluster's queue lives (light: short commands start here)
  cli         register(subparsers): submit, queue, job, cancel, suspend, resume; each sets
              args.jobs_handler(args, config) -> exit status; acct_cli (acct), lsf_cli
              (bsub, bjobs, bkill, also as console scripts)

BATCH.md beside this file describes the Slurm and LSF habits (allocations, MPI, limits,
accounting, the LSF front door) and where roost differs from sbatch on purpose.

[jobs] config keys read here: cores = {node = N} (overrides the node's /proc/stat count),
use_load (default true: live load not caused by roost counts as busy cores), grace (TERM ->
KILL, s), node_fail_after (s unreachable before NODE_FAIL), poll_every, load_every, limits
(auto | off: pin cores and hold --mem on the node), history_days (finished jobs kept for acct),
max_links and link_idle (on the Prometheus source: scheduler links held at most, and parked
after that many seconds without a task of ours), probe_timeout and probe_every (a link whose
node Prometheus reports down is probed: down without an answer within probe_timeout s, probed
again every probe_every s while the report stays down), trust_measure (a parked link's measure
of its node, fuller than the node's unchanged Prometheus report, stands for placement this
many seconds at most; 0: the report alone).
"""

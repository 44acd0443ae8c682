"""console.config: loading, precedence, and one-line errors that name file, line and key path."""
from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest
from hypothesis import given, settings, strategies as st

from console.config import Config, ConfigError, Locator, load_config

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "roost.toml"


@pytest.fixture(autouse=True)
def isolated(tmp_path, monkeypatch):
    """No real ~/.ssh/config, ./roost.toml or XDG config can leak into a test."""
    home = tmp_path / "home"
    home.mkdir()
    for var in ("ROOST_CONFIG", "ROOST_INVENTORY", "ROOST_SSH_CONFIG", "ROOST_STATE_DIR"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "xdgstate"))
    monkeypatch.chdir(tmp_path)
    return home


def write(tmp_path: Path, text: str, name: str = "roost.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def error_of(path: Path, **kw) -> str:
    with pytest.raises(ConfigError) as info:
        load_config(path, **kw).targets()
    text = str(info.value)
    assert "\n" not in text and "Traceback" not in text
    return text


def test_no_config_anywhere_is_an_empty_config():
    config = load_config()
    assert config.nodes == () and config.targets() == [] and config.sources == ()
    assert config.thresholds.temp_warn == 70 and config.thresholds.temp_crit == 80


def test_power_and_threshold_sections_are_typed_and_levels_follow_them(tmp_path):
    config = load_config(write(tmp_path, "[power]\nstagger = 0\ngrace = 2.5\n"
                                         "[thresholds]\ncpu_warn = 50\nmem_crit = 99\n"
                                         "load_warn = 2\n"))
    assert (config.power.stagger, config.power.grace) == (0.0, 2.5)
    assert (config.power.boot_timeout, config.power.shutdown_timeout) == (180.0, 120.0)
    t = config.thresholds
    assert [t.cpu_level(v) for v in (None, 49.9, 50, 89.9, 90)] == \
        ["ok", "ok", "warn", "warn", "crit"]
    assert [t.mem_level(v) for v in (84.9, 85, 98.9, 99)] == ["ok", "warn", "warn", "crit"]
    assert [t.load_level(v, 4) for v in (None, 8.0, 8.1)] == ["ok", "ok", "warn"]
    assert t.load_level(3.0, None) == "ok" and t.temp_level(80) == "crit"


def test_discovery_order_env_then_cwd_then_xdg(tmp_path, monkeypatch):
    xdg = tmp_path / "xdg" / "roost"
    xdg.mkdir(parents=True)
    write(xdg, '[[nodes]]\nnames = "xdgnode"\n')
    assert load_config().names == ("xdgnode",)
    write(tmp_path, '[[nodes]]\nnames = "cwdnode"\n')
    assert load_config().names == ("cwdnode",)
    env_file = write(tmp_path, '[[nodes]]\nnames = "envnode"\n', "other.toml")
    assert load_config(env={"ROOST_CONFIG": str(env_file)}).names == ("envnode",)


def test_example_config_loads_with_templates_groups_and_power():
    config = load_config(EXAMPLE)
    assert config.names == ("ctl", "node1", "node2", "node3", "node4", "console")
    assert [t.host for t in config.targets("node[1-4]")] == [f"10.0.0.{i}" for i in range(1, 5)]
    assert config.node("node3").power["pin"] == "2"  # {index0}
    assert config.node("ctl").role == "controller"
    assert [t.name for t in config.targets("@rack2,ctl")] == ["ctl", "node3", "node4"]
    assert [t.name for t in config.targets("@workers!node2")] == ["node1", "node3", "node4"]
    assert config.targets("console")[0].local
    assert config.node("node1").groups == ("workers", "rack1")
    assert config.jobs.backend == "builtin" and config.theme == "roost-dark"


def test_jobs_section_is_typed_and_frozen(tmp_path):
    path = write(tmp_path, '[jobs]\nbackend = "slurm"\ncontroller = "a"\ngrace = 2\n'
                           'workdir = "~/jobs"\ncores = { n1 = 4 }\n[jobs.boinc]\nport = 31417\n')
    jobs = load_config(path).jobs
    assert jobs.workdir == "~/jobs"
    assert (jobs.backend, jobs.controller, jobs.grace, jobs.use_load) == ("slurm", "a", 2.0, True)
    assert jobs.uses_slurm and jobs.cores == {"n1": 4} and jobs.boinc["port"] == 31417
    with pytest.raises(dataclasses.FrozenInstanceError):
        jobs.grace = 3.0                     # type: ignore[misc]
    with pytest.raises(TypeError):
        jobs.cores["n2"] = 1                 # type: ignore[index]


def test_the_link_probe_settings_reach_the_scheduler_with_their_defaults_unchanged(tmp_path):
    from console.jobs.core import Options
    default = Options.from_config(load_config(write(tmp_path, '[jobs]\n')).jobs)
    assert (default.probe_timeout, default.probe_every) == (3.0, 5.0)
    jobs = load_config(write(tmp_path, '[jobs]\nprobe_timeout = 1.5\nprobe_every = 10\n')).jobs
    assert (jobs.probe_timeout, jobs.probe_every) == (1.5, 10.0)
    options = Options.from_config(jobs)
    assert (options.probe_timeout, options.probe_every) == (1.5, 10.0)


def test_trust_measure_reaches_the_scheduler_with_its_default_unchanged(tmp_path):
    from console.jobs.core import Options
    assert Options.from_config(load_config(write(tmp_path, '[jobs]\n')).jobs).trust_measure == 300.0
    for text, seconds in (('60', 60.0), ('0', 0.0), ('90.5', 90.5)):
        jobs = load_config(write(tmp_path, f'[jobs]\ntrust_measure = {text}\n')).jobs
        assert jobs.trust_measure == seconds
        assert Options.from_config(jobs).trust_measure == seconds


def test_defaults_fill_targets_and_accept_new_uses_roost_store(tmp_path):
    path = write(tmp_path, """
[defaults]
user = "pi"
port = 2200
interval = 0.5
identity = "~/.ssh/id_rk1"
host_keys = "accept-new"
[[nodes]]
names = "rk[1-2]"
host = "{name}.lan"
""")
    t = load_config(path, state_dir=tmp_path / "st").targets("rk2")[0]
    assert (t.host, t.port, t.user, t.interval) == ("rk2.lan", 2200, "pi", 0.5)
    assert t.identity_files == (str(Path("~/.ssh/id_rk1").expanduser()),)
    assert t.host_keys == "accept-new" and t.accept_new_store == str(tmp_path / "st" / "known_hosts")


def test_precedence_explicit_then_ssh_config_then_defaults(tmp_path, isolated):
    ssh = write(tmp_path, "Host a b\n  HostName 127.0.0.9\n  Port 2022\n  User sshuser\n"
                          "  ProxyJump jump\n  UserKnownHostsFile ~/kh\n", "ssh_config")
    (isolated / "kh").write_text("")
    path = write(tmp_path, '[defaults]\nuser = "defuser"\nport = 2300\n'
                           '[[nodes]]\nnames = "a"\nport = 7\n[[nodes]]\nnames = "b,c"\n')
    config = load_config(path, ssh_config=ssh)
    a, b, c = config.targets()
    assert (a.host, a.port, a.user, a.proxy_jump) == ("127.0.0.9", 7, "sshuser", "jump")
    assert (b.host, b.port, b.user) == ("127.0.0.9", 2022, "sshuser")
    assert (c.host, c.port, c.user, c.proxy_jump) == ("c", 2300, "defuser", None)
    # UserKnownHostsFile replaces ~/.ssh/known_hosts{,2}, as in OpenSSH; the global files stay
    assert a.known_hosts == (str(isolated / "kh"), "/etc/ssh/ssh_known_hosts", "/etc/ssh/ssh_known_hosts2")


def test_default_ssh_config_is_read_when_present_and_ignored_when_absent(tmp_path, isolated):
    path = write(tmp_path, '[[nodes]]\nnames = "a"\n')
    assert load_config(path).targets()[0].host == "a"
    (isolated / ".ssh").mkdir()
    (isolated / ".ssh" / "config").write_text("Host a\n  HostName 127.0.0.5\n")
    assert load_config(path).targets()[0].host == "127.0.0.5"


@pytest.mark.parametrize("text, where, expect", [
    ('[defaults]\nuser = "pi"\nport = = 3\n', 3, "TOML syntax"),
    ('[defaults]\nuser = "pi"\nport = "22"\n', 3, "defaults.port: expected a port number 1-65535, got a string '22'"),
    ('[defaults]\nhost_keys = "yolo"\n', 2, "defaults.host_keys: expected one of 'strict', 'accept-new'"),
    ('[[nodes]]\nnames = "a"\n\n[[nodes]]\nnames = "b"\nprot = 22\n', 6, "nodes[1].prot: unknown key"),
    ('[[nodes]]\nnames = "a"\n[groups]\nrack = "a,zz"\n', 4, "groups.rack: unknown node 'zz'"),
    ('[[nodes]]\nnames = "a\\nb"\n', 2, "nodes[0].names: expected a node name"),
    ('[[nodes]]\nnames = "a;rm -rf /"\n', 2, "nodes[0].names: expected a node name"),
    ('[[nodes]]\nnames = "-oProxyCommand=x"\n', 2, "nodes[0].names: expected a node name"),
    ('[[nodes]]\nnames = "a"\nhost = "-oProxyCommand=touch"\n', 3, "nodes[0].host: expected a host"),
    ('[[nodes]]\nnames = "a"\nhost = "10.0.0.{idx}"\n', 3, "nodes[0].host: expected placeholders"),
    ('[[nodes]]\nnames = "a"\nuser = "root; id"\n', 3, "nodes[0].user: expected a user name"),
    ('[[nodes]]\nnames = "n[1-"\n', 2, "nodes[0].names: expected a hostlist"),
    ('[[nodes]]\nnames = "a"\n[[nodes]]\nnames = "a"\n', 4, "already defined by nodes[0]"),
    ('[[nodes]]\nnames = "a"\nprocfs = "relative/proc"\n', 3, "nodes[0].procfs: expected an absolute path"),
    ('[thresholds]\ntemp_warn = 90\ntemp_crit = 80\n', 2, "thresholds.temp_warn: expected at most temp_crit"),
    ('[thresholds]\n\ncpu_warn = 95\n', 3, "thresholds.cpu_warn: expected at most cpu_crit (90.0)"),
    ('[power]\nstagger = 1\nboot_timeout = "soon"\n', 3, "power.boot_timeout: expected a number, got a string"),
    ('[power]\ngrace = -1\n', 2, "power.grace: expected a number 0-3600 s, got -1"),
    ('[power]\nstager = 2\n', 2, "power.stager: unknown key (expected one of: stagger,"),
    ('[keymap]\nquit = 3\n', 2, "keymap.quit: expected a string, got an integer 3"),
    ('colour = "red"\n', 1, "colour: unknown key"),
    ('[[nodes]]\nhost = "x"\n', 1, "nodes[0]: expected a names"),
    ('[jobs]\ngrace = "five"\n', 2, "jobs.grace: expected a number, got a string 'five'"),
    ('[jobs]\nbogus_key = 3\n', 2, "jobs.bogus_key: unknown key (expected one of: backend"),
    ('[jobs]\nbackend = "lsf"\n', 2, "jobs.backend: expected one of 'builtin', 'slurm'"),
    ('[jobs]\nsqueue_json = "no"\n', 2, "jobs.squeue_json: expected true or false"),
    ('[jobs]\nworkdir = 3\n', 2, "jobs.workdir: expected a string"),
    ('[jobs]\nnode_fail_after = -1\n', 2, "jobs.node_fail_after: expected a number above 0"),
    ('[jobs]\ncores = { n1 = 0 }\n', 2, "jobs.cores.n1: expected a whole number of cores"),
    ('[jobs]\nlink_idle = 5\nprobe_timeout = 0\n', 3, "jobs.probe_timeout: expected a number above 0, got 0"),
    ('[jobs]\nprobe_every = "5s"\n', 2, "jobs.probe_every: expected a number, got a string '5s'"),
    ('[jobs]\nmax_links = 8\n\ntrust_measure = -5\n', 4,
     "jobs.trust_measure: expected a number of at least 0, got -5"),
    ('[jobs]\ntrust_measure = "5m"\n', 2, "jobs.trust_measure: expected a number, got a string '5m'"),
    ('[jobs.boinc]\nprot = 1\n', 2, "jobs.boinc.prot: unknown key"),
    ('[jobs.boinc.nodes.n1]\ntimeout = true\n', 2, "jobs.boinc.nodes.n1.timeout: expected"),
])
def test_errors_are_one_line_with_file_line_and_key_path(tmp_path, text, where, expect):
    path = write(tmp_path, text)
    message = error_of(path)
    assert message.startswith(f"{path}:{where}: "), message
    assert expect in message


def test_unknown_node_or_group_on_selection_is_named(tmp_path):
    config = load_config(write(tmp_path, '[[nodes]]\nnames = "n[1-3]"\n[groups]\ng = "n1"\n'))
    with pytest.raises(ConfigError, match=r"unknown node 'n7'"):
        config.targets("n[1-3],n7")
    with pytest.raises(ConfigError, match=r"unknown group @rack9"):
        config.targets("@rack9")
    assert [t.name for t in config.targets("@g,n3")] == ["n1", "n3"]


def test_all_and_at_all_are_every_node_unless_the_config_names_them(tmp_path):
    config = load_config(write(tmp_path, '[[nodes]]\nnames = "n[1-3]"\n[groups]\ng = "n1"\n'))
    every = ["n1", "n2", "n3"]
    assert [s.name for s in config.select("all")] == every
    assert [s.name for s in config.select("@all")] == every
    assert [s.name for s in config.select("@all!n2")] == ["n1", "n3"]
    assert [s.name for s in config.select(None, exclude="@g")] == ["n2", "n3"]
    assert [s.name for s in config.select("n[1-2]", exclude="n[2-3]")] == ["n1"]
    # a group or a node really called "all" is what the user means
    config = load_config(write(tmp_path, '[[nodes]]\nnames = "n[1-3],all"\n[groups]\nall = "n2"\n'))
    assert [s.name for s in config.select("@all")] == ["n2"]
    assert [s.name for s in config.select("all")] == ["all"]


def test_missing_explicit_file_and_unreadable_file(tmp_path):
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(tmp_path / "nope.toml")
    bad = tmp_path / "bin.toml"
    bad.write_bytes(b"\xff\xfe\x00")
    assert "cannot read config" in error_of(bad)


def test_inventory_nodes_merge_with_toml_overrides(tmp_path):
    inv = write(tmp_path, "[workers]\nw[1:2] ansible_host=127.0.0.4 ansible_user=pi\n", "hosts.ini")
    path = write(tmp_path, '[[nodes]]\nnames = "w2"\nuser = "ops"\ngroups = "gpu"\n')
    config = load_config(path, inventory=inv)
    w1, w2 = config.targets()
    assert (w1.user, w2.user, w2.host) == ("pi", "ops", "127.0.0.4")
    assert w2.groups == ("workers", "gpu") and config.groups["workers"] == ("w1", "w2")
    assert config.sources == (inv, path)


@settings(max_examples=60, deadline=None)
@given(st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=40))
def test_any_node_name_is_accepted_cleanly_or_refused_in_one_line(tmp_path_factory, name):
    path = tmp_path_factory.mktemp("h") / "roost.toml"
    escaped = name.replace("\\", "\\\\").replace('"', '\\"')
    escaped = "".join(c if c.isprintable() else f"\\u{ord(c):04x}" for c in escaped)
    path.write_text(f'[[nodes]]\nnames = "{escaped}"\n', encoding="utf-8")
    try:
        config = load_config(path)
    except ConfigError as exc:
        assert "\n" not in str(exc) and str(exc).startswith(f"{path}:")
        return
    assert all(re.fullmatch(r"[A-Za-z0-9_][A-Za-z0-9._-]*", n) for n in config.names)


def test_locator_maps_nested_inline_keys_to_their_line():
    loc = Locator('[defaults]\nuser = "x"\n[[nodes]]\nnames = "a"\n[[nodes]]\n'
                  'names = "b"\npower = { pin = 3 }\n')
    assert loc.line(("defaults", "user")) == 2
    assert loc.line(("nodes", 1, "power", "pin")) == 7
    assert loc.line(("nodes", 1)) == 5
    assert Config().targets() == []


def test_yaml_inventory_from_env_and_group_of_groups(tmp_path):
    inv = write(tmp_path, "all:\n  children:\n    pis:\n      hosts:\n        pi[1:3]:\n"
                          "          ansible_host: 127.0.0.3\n", "hosts.yml")
    path = write(tmp_path, '[groups]\nodd = "pi[1,3]"\nsome = "@odd,pi2"\n')
    config = load_config(path, env={"ROOST_INVENTORY": str(inv)})
    assert config.names == ("pi1", "pi2", "pi3")
    assert config.groups["some"] == ("pi1", "pi2", "pi3") and config.groups["pis"] == config.names
    assert [t.host for t in config.targets("@odd")] == ["127.0.0.3", "127.0.0.3"]


def test_index_placeholders_without_digits_use_position(tmp_path):
    path = write(tmp_path, '[[nodes]]\nnames = "alpha,beta"\nhost = "h{index}-{index0}.{name}"\n')
    assert [t.host for t in load_config(path).targets()] == ["h1-0.alpha", "h2-1.beta"]


def test_inventory_error_surfaces_as_config_error(tmp_path):
    inv = write(tmp_path, "[web]\nn[5:1]\n", "hosts.ini")
    with pytest.raises(ConfigError, match=r"hosts.ini:2: bad host range"):
        load_config(inventory=inv)


def test_roost_known_hosts_replaces_the_ssh_defaults(tmp_path, isolated):
    (isolated / ".ssh").mkdir()
    (isolated / ".ssh" / "known_hosts").write_text("")
    path = write(tmp_path, '[[nodes]]\nnames = "a"\n[[nodes]]\nnames = "b"\nknown_hosts = "/lab/kh"\n')
    a, b = load_config(path).targets()
    ssh_dir = isolated / ".ssh"
    assert a.known_hosts == (str(ssh_dir / "known_hosts"), str(ssh_dir / "known_hosts2"),
                             "/etc/ssh/ssh_known_hosts", "/etc/ssh/ssh_known_hosts2")
    assert b.known_hosts == ("/lab/kh",)


def test_proxy_jump_is_checked_and_beats_ssh_config(tmp_path):
    ssh = write(tmp_path, "Host *\n  ProxyJump other\n", "ssh_config")
    path = write(tmp_path, '[[nodes]]\nnames = "a"\nproxy_jump = "pi@ctl:2222"\n[[nodes]]\nnames = "b"\n')
    a, b = load_config(path, ssh_config=ssh).targets()
    assert (a.proxy_jump, b.proxy_jump) == ("pi@ctl:2222", "other")
    bad = write(tmp_path, '[[nodes]]\nnames = "a"\nproxy_jump = "-oProxyCommand=sh"\n', "bad.toml")
    assert "nodes[0].proxy_jump: expected [user@]host[:port]" in error_of(bad)


@pytest.mark.parametrize("line, expect", [
    ("x ansible_host=-oProxyCommand=sh", "hosts.ini:2: x: ansible_host: expected a host"),
    ("x ansible_user='a b'", "hosts.ini:2: x: ansible_user: expected a user name"),
    ("bad;name", "hosts.ini:2: 'bad;name': expected a node name"),
])
def test_hostile_inventory_values_are_refused(tmp_path, line, expect):
    inv = write(tmp_path, f"[web]\n{line}\n", "hosts.ini")
    with pytest.raises(ConfigError) as info:
        load_config(inventory=inv)
    assert expect in str(info.value) and "\n" not in str(info.value)


keys = st.from_regex(r"[a-z][a-z0-9_]{0,8}", fullmatch=True)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["defaults", "thresholds", "nodes"]),
                          st.lists(keys, min_size=1, max_size=4, unique=True)), max_size=6),
       st.integers(0, 3))
def test_locator_finds_every_key_line_in_generated_toml(tables, blank):
    """Build a document, remember where each key went, and ask the Locator for it back."""
    lines, expected, arrays, seen = [], {}, {}, set()
    for name, table_keys in tables:
        if name != "nodes" and name in seen:
            continue
        seen.add(name)
        lines += [""] * blank
        if name == "nodes":
            arrays[name] = arrays.get(name, -1) + 1
            lines.append("[[nodes]]")
            prefix = ("nodes", arrays[name])
        else:
            lines.append(f"[{name}]")
            prefix = (name,)
        for key in table_keys:
            lines.append(f"{key} = 1  # note")
            expected[prefix + (key,)] = len(lines)
    loc = Locator("\n".join(lines) + "\n")
    for path, line in expected.items():
        assert loc.line(path) == line


# ---- bounded input ---------------------------------------------------------------------------------

@pytest.mark.parametrize("value", ["nan", "inf", "-inf", "1e-300", "0", "-1", "1e300", '"1"', "true"])
def test_every_interval_that_could_hang_collect_is_refused(tmp_path, value):
    path = write(tmp_path, f'[defaults]\ninterval = {value}\n[[nodes]]\nnames = "a"\ninterval = 1\n')
    assert error_of(path).startswith(f"{path}:2: defaults.interval: expected ")


@pytest.mark.parametrize("text, line, expect", [
    ('[defaults]\nconnect_timeout = inf\n', 2, "defaults.connect_timeout: expected a finite number"),
    ('[thresholds]\nmem_crit = 101\n', 2, "thresholds.mem_crit: expected a number 0-100"),
    ('[thresholds]\ntemp_warn = nan\n', 2, "thresholds.temp_warn: expected a finite number"),
    ('[[nodes]]\nnames = "a"\npower = { driver = "command", timeout = nan }\n', 3,
     "nodes[0].power.timeout: expected a finite number"),
    ('[jobs]\nbackend = "builtin"\nretry = { delay = -inf }\n', 3, "jobs.retry.delay: expected a finite number"),
    ('[[nodes]]\nnames = "a"\nport = 99999999999999999999\n', 3, "nodes[0].port: expected a number within 64 bits"),
    ('[defaults]\nmax_hostlist = 0\n', 2, "defaults.max_hostlist: expected an integer 1-10000000"),
])
def test_numbers_anywhere_are_finite_and_in_range(tmp_path, text, line, expect):
    path = write(tmp_path, text)
    message = error_of(path)
    assert message.startswith(f"{path}:{line}: ") and expect in message, message


def test_max_hostlist_bounds_names_groups_inventory_and_selection(tmp_path):
    inv = write(tmp_path, "[web]\nw[1:8]\n", "hosts.ini")
    path = write(tmp_path, '[defaults]\nmax_hostlist = 10\n[[nodes]]\nnames = "n[1-2]"\n')
    with pytest.raises(ConfigError, match=r"big.ini:2: hostlist 'w\[1:11\]' holds 11 names, more than the limit of 10"):
        load_config(path, inventory=write(tmp_path, "[web]\nw[1:11]\n", "big.ini"))
    config = load_config(path, inventory=inv)
    assert len(config.names) == 10
    with pytest.raises(ConfigError, match=r"hostlist 'x\[1-11\]' holds 11 names, more than the limit of 10"):
        config.targets("x[1-11]")
    over = write(tmp_path, '[defaults]\nmax_hostlist = 10\n[[nodes]]\nnames = "n[1-11]"\n', "over.toml")
    assert "nodes[0].names: hostlist 'n[1-11]' holds 11 names" in error_of(over)


def test_ten_million_names_are_refused_before_they_exist(tmp_path):
    import resource
    import time
    path = write(tmp_path, '[[nodes]]\nnames = "n[1-10000000]"\n')
    before, start = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, time.process_time()
    assert "holds 10,000,000 names, more than the limit of 100,000" in error_of(path)
    assert time.process_time() - start < 0.5
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 20_000     # KiB


def test_loading_grows_linearly_with_nodes(tmp_path):
    """20,000 nodes in groups: was quadratic (10 s), must stay a few times 5,000's cost."""
    import time

    def cost(n: int) -> float:
        path = write(tmp_path, f'[[nodes]]\nnames = "n[1-{n}]"\ngroups = ["a", "b"]\n'
                               f'[groups]\nc = "n[1-{n // 2}]"\nd = "@c,n1"\n', f"s{n}.toml")
        best = []
        for _ in range(3):
            start = time.process_time()
            load_config(path).targets("@d")
            best.append(time.process_time() - start)
        return min(best)

    small, big = cost(5000), cost(20000)
    assert big < 10 * small, (small, big)


def test_dev_null_is_an_empty_config_and_an_empty_ssh_config(tmp_path):
    assert load_config("/dev/null").nodes == ()
    path = write(tmp_path, '[[nodes]]\nnames = "a"\n')
    assert load_config(path, ssh_config="/dev/null").targets()[0].host == "a"


@pytest.mark.parametrize("make, expect", [
    (lambda p: p.mkdir(), "cannot read config: it is a directory"),
    (lambda p: p.symlink_to(p), "too many levels of symbolic links"),
    (lambda p: __import__("os").mkfifo(p), "cannot read config: not a regular file"),
    (lambda p: p.write_bytes(b"#" * (600 * 1024)), "more than the 512 KiB a config may have"),
    (lambda p: p.write_bytes(b"[defaults]\nuser = \"\xe9\"\n"), "not UTF-8 text (byte 0xe9 at column 9)"),
])
def test_files_that_are_not_configs_are_one_line(tmp_path, make, expect):
    path = tmp_path / "roost.toml"
    make(path)
    message = error_of(path)
    assert message.startswith(f"{path}") and expect in message


def test_a_bom_and_crlf_keep_line_numbers(tmp_path):
    path = tmp_path / "roost.toml"
    path.write_bytes(b"\xef\xbb\xbf[defaults]\r\nuser = \"pi\"\r\nport = 0\r\n")
    assert error_of(path).startswith(f"{path}:3: defaults.port")

"""`roost power ...` through console.power.cli with a real config file, real sshd nodes, a real
ipmi_sim BMC and a Cluster HAT expander on a controller reached over SSH."""
from __future__ import annotations

import argparse
import io
import shutil

import pytest

from console.config import load_config
from console.power import cli
from tests.conftest import need
from tests.lab.ipmi import IpmiBmc
from tests.lab.power_i2c import install, load


class Tty(io.StringIO):
    def isatty(self):
        return True


def parse(*argv: str) -> argparse.Namespace:
    p = argparse.ArgumentParser()
    cli.add_arguments(p)
    return p.parse_args(list(argv))


@pytest.fixture
def fleet(ssh_lab, tmp_path):
    need(shutil.which("ipmi_sim") is not None, "ipmi_sim missing; install openipmi")
    ctl, n1 = ssh_lab.start(2)
    bmc = IpmiBmc.start(ssh_lab.dir, n1)
    tools = install(ssh_lab.dir / f"i2c-{ctl.name}", ssh_lab.dir / f"i2c-{ctl.name}" / "state.json",
                    {1: {0x20: ("xra1200", 0x00)}})
    key, kh = ssh_lab.client_key, ssh_lab.known_hosts
    conf = tmp_path / "roost.toml"
    conf.write_text(f"""
[defaults]
user = "roostlab"
identity = ["{key}"]
known_hosts = ["{kh}"]

[[nodes]]
names = "ctl"
host = "{ctl.host}"
port = {ctl.port}
role = "controller"
power = {{ driver = "command", on = "true", off = "true", status = "echo on" }}

[[nodes]]
names = "n1"
host = "{n1.host}"
port = {n1.port}
power = {{ driver = "ipmi", host = "127.0.0.1", port = {bmc.port}, user = "admin", password_file = "{bmc.password_file}", shutdown = "{bmc.os_halt_command}" }}

[[nodes]]
names = "p[1-2]"
host = "127.0.0.1"
port = 9
power = {{ driver = "expander", via = "ctl", chip = "xra1200", pin = "{{index0}}", i2cget = "{tools['i2cget']}", i2cset = "{tools['i2cset']}" }}
""")  # noqa: E501 - TOML inline tables are one line
    yield conf, bmc, ssh_lab.dir / f"i2c-{ctl.name}" / "state.json"
    bmc.stop()
    ssh_lab.stop([ctl])


def roost_power(conf, *argv, stdin=None):
    out, err = io.StringIO(), io.StringIO()
    code = cli.run(parse(*argv), load_config(conf, env={}), stdin=stdin or io.StringIO(), out=out, err=err)
    return code, out.getvalue(), err.getvalue()


def test_status_is_read_back_and_reachability_folded(fleet):
    conf, bmc, _ = fleet
    code, out, err = roost_power(conf, "status", "ctl,n1,p[1-2]")
    assert code == 0, err
    assert out.splitlines() == ["ctl,n1: on", "p[1-2]: off"]


def test_graceful_off_and_on_of_an_ipmi_node(fleet):
    conf, bmc, _ = fleet
    code, out, err = roost_power(conf, "off", "--shutdown-timeout", "10", "n1", "--grace", "0")
    assert code == 0, err
    assert out.startswith("n1: off: shut down, then power cut")
    assert not bmc.power()
    code, out, err = roost_power(conf, "on", "n1", "--boot-timeout", "10")
    assert code == 0, err
    assert out.startswith("n1: on: up, SSH answered after")


def test_the_controller_is_refused_without_force(fleet):
    conf, _, _ = fleet
    code, out, err = roost_power(conf, "off", "ctl")
    assert code == cli.REFUSED
    assert err == "roost: refusing to power off ctl controls the power of p1, p2 (use --force)\n"


def test_group_off_needs_yes_without_a_terminal_and_asks_on_one(fleet):
    conf, _, state = fleet
    code, _, err = roost_power(conf, "off", "p[1-2]", "--hard")
    assert code == cli.REFUSED
    assert err == "roost: refusing to power off 2 nodes (p[1-2]) without --yes (no terminal to ask)\n"
    code, _, err = roost_power(conf, "on", "p[1-2]", stdin=Tty("n\n"))
    assert code == cli.REFUSED and err == "Power on 2 nodes (p[1-2])? [y/N] "
    assert load(state)[1].devices[0x20].levels() & 0x03 == 0          # nothing switched


def test_on_reports_a_node_that_never_answers_ssh(fleet):
    conf, _, state = fleet
    code, out, err = roost_power(conf, "on", "p[1-2]", "--yes", "--boot-timeout", "0.3", "--stagger", "0")
    assert code == 1
    assert err.splitlines() == [f"roost: p{i}: on failed: powered on, but SSH did not answer within 0.3s"
                                for i in (1, 2)]
    assert load(state)[1].devices[0x20].levels() & 0x03 == 0x03       # both pins really on
    code, out, _ = roost_power(conf, "status", "p[1-2]")
    assert out == "p[1-2]: on, not answering SSH\n"


def test_bad_power_tables_are_one_line_and_switch_nothing(fleet, tmp_path):
    conf, bmc, state = fleet
    text = conf.read_text()
    bad = tmp_path / "bad.toml"
    bad.write_text(text.replace('chip = "xra1200"', 'chip = "xra1201"'))
    code, out, err = roost_power(bad, "on", "n1")
    assert code == 2 and err.startswith("roost: node p1: power.chip: unknown chip 'xra1201'")
    bad.write_text(text.replace('pin = "{index0}"', 'pin = 0'))
    code, out, err = roost_power(bad, "off", "n1", "--hard")
    assert code == 2 and err.startswith("roost: nodes p1, p2: power: all use xra1200")
    assert bmc.power()                                                 # n1 untouched
    code, _, err = roost_power(conf, "on", "nosuch")
    assert (code, err) == (2, "roost: unknown node 'nosuch'\n")


def test_validate_lists_every_problem_without_touching_hardware(tmp_path):
    from console.power import validate
    conf = tmp_path / "roost.toml"
    conf.write_text("""
[[nodes]]
names = "a[1-2]"
host = "127.0.0.1"
power = { driver = "expander", via = "ctl", chip = "pca9555", address = 0x20, pin = 3 }

[[nodes]]
names = "b1"
host = "127.0.0.1"
power = { driver = "ipmi", host = "10.0.0.9", user = "admin", password = "hunter2" }

[[nodes]]
names = "c1"
host = "127.0.0.1"
power = { driver = "plug", model = "kasa", url = "http://10.0.0.30" }
""")
    problems = validate(load_config(conf, env={}))
    assert problems == [
        "node b1: power.password: secrets never go in the config; use password_env (an environment "
        "variable) or password_file (a 0600 file)",
        "node c1: power.model: expected one of tasmota, shelly1, shelly2, got 'kasa'",
        "node a1: power.via: no node named 'ctl' in the config",
        "node a2: power.via: no node named 'ctl' in the config",
        "nodes a1, a2: power: all use pca9555 bus 1 on ctl address 0x20 pin 3; one output can power "
        "only one node unless each says shared = true",
    ]


def test_roost_power_through_the_real_entry_point(fleet, capsys):
    from console.cli import main
    conf, bmc, _ = fleet
    assert main(["--config", str(conf), "power", "status", "n1,p1"]) == 0
    assert capsys.readouterr().out.splitlines() == ["n1: on", "p1: off"]
    assert main(["--config", str(conf), "power", "off", "ctl"]) == cli.REFUSED
    assert "refusing to power off ctl controls the power of p1, p2" in capsys.readouterr().err


def test_status_with_the_bmc_down_says_so_and_still_probes_ssh(fleet):
    conf, bmc, _ = fleet
    bmc.proc.terminate()
    bmc.proc.wait()
    text = conf.read_text().replace('password_file =', 'timeout = 1.0, password_file =')
    conf.write_text(text)
    code, out, err = roost_power(conf, "status", "n1,ctl")
    assert code == 1, err
    assert out.splitlines() == [
        "ctl: on", f"n1: unknown (power ipmi: BMC 127.0.0.1:{bmc.port} did not answer within 1s); answers SSH"]


def test_timing_comes_from_the_power_section_and_flags_take_over(tmp_path):
    conf = tmp_path / "roost.toml"
    conf.write_text("[power]\nstagger = 0.25\nboot_timeout = 42\ngrace = 0\n")
    power = load_config(conf, env={}).power
    t = cli.timing(parse("on", "n1"), power)
    assert (t.stagger, t.boot_timeout, t.shutdown_timeout, t.grace) == (0.25, 42.0, 120.0, 0.0)
    t = cli.timing(parse("on", "n1", "--boot-timeout", "7", "--stagger", "0"), power)
    assert (t.stagger, t.boot_timeout, t.grace) == (0.0, 7.0, 0.0)


def test_on_waits_as_long_as_the_power_section_says(fleet, tmp_path):
    conf, _, _ = fleet
    paced = tmp_path / "paced.toml"
    paced.write_text("[power]\nboot_timeout = 0.3\nstagger = 0\n" + conf.read_text())
    code, out, err = roost_power(paced, "on", "p1", "--yes")
    assert code == 1
    assert err == "roost: p1: on failed: powered on, but SSH did not answer within 0.3s\n"


def test_status_of_nodes_with_and_without_a_driver_is_one_format(tmp_path, capsys):
    """n[1-4] with a power table on n2 only: one line per state, n2 read back, the others
    listed as `no power driver`, exit 0; switching them is still refused (exit 2)."""
    relay = tmp_path / "relay"
    relay.write_text("on\n")
    conf = tmp_path / "roost.toml"
    conf.write_text(f"""
[[nodes]]
names = "n1"
host = "127.0.0.1"
port = 9

[[nodes]]
names = "n[3-4]"
host = "127.0.0.1"
port = 9

[[nodes]]
names = "n2"
host = "127.0.0.1"
port = 9
power = {{ driver = "command", on = "echo on > {relay}", off = "echo off > {relay}", status = "cat {relay}" }}
""")
    code, out, err = roost_power(conf, "status", "n[1-4]")
    assert (code, err) == (0, "")
    assert out.splitlines() == ["n[1,3-4]: no power driver", "n2: on, not answering SSH"]
    code, out, err = roost_power(conf, "status", "n2")
    assert (code, out) == (0, "n2: on, not answering SSH\n")       # the same format for one node
    code, out, err = roost_power(conf, "status", "n3")
    assert (code, out, err) == (0, "n3: no power driver\n", "")
    code, out, err = roost_power(conf, "off", "n[1-4]", "--yes", "--hard")
    assert code == 2 and out == "" and err.startswith("roost: node n1 (and 2 more): no power table")
    assert relay.read_text() == "on\n"                            # nothing switched


def test_power_help_documents_the_exit_status(capsys):
    from console.cli import main
    with pytest.raises(SystemExit) as done:
        main(["power", "--help"])
    assert done.value.code == 0
    text = capsys.readouterr().out
    assert "exit status:" in text and "\n  3  refused:" in text and "no power driver" in text


def test_status_text_from_a_driver_reaches_the_terminal_without_control_characters(tmp_path):
    conf = tmp_path / "roost.toml"
    conf.write_text('[[nodes]]\nnames = "n1"\nhost = "127.0.0.1"\nport = 9\n'
                    'power = { driver = "command", on = "true", off = "true", '
                    'status = "printf \'\\\\033]0;pwned\\\\007weird\\\\n\'; exit 3" }\n')
    code, out, err = roost_power(conf, "status", "n1")
    assert code == 1 and out.startswith("n1: unknown (") and "\x1b" not in out and "\x07" not in out

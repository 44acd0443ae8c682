"""GPIO lines on a controller over real SSH: libgpiod v1 and v2 gpioset/gpioget/gpioinfo stand-ins
(tests/lab/gpio_tools.py, backed by the gpiosim chip model) on a lab node's PATH."""
from __future__ import annotations

import glob
import os
import secrets

import pytest

from console.power.base import PowerError, PowerState
from console.power.registry import Context, build_driver
from console.power.ssh import SshAccess
from tests.lab.gpio_tools import edit, install, load


class Controller:
    def __init__(self, node, state, chip, tools, version):
        self.node, self.state, self.chip, self.tools, self.version = node, state, chip, tools, version
        self.commands: list[str] = []
        self.access = SshAccess({"ctl": node.target(name="ctl")})

    def ctx(self) -> Context:
        def runner_for(via):
            inner = self.access.runner_for(via)

            async def runner(command, timeout):
                self.commands.append(command)
                return await inner(command, timeout)
            return runner
        return Context(runner_for=runner_for)

    def driver(self, node="n1", ctx=None, **table):
        return build_driver(node, {"driver": "gpio", "via": "ctl", "chip": self.chip, **table},
                            ctx or self.ctx())

    def lines(self):
        chips, flipped = load(self.state)
        return chips[f"/dev/{self.chip}"].lines, flipped


def start(ssh_lab, version: int, on_path: bool = True) -> Controller:
    node, = ssh_lab.start(1)
    where = ssh_lab.dir / f"gpio-{node.name}"
    chip = f"gpiochip{100 + secrets.randbelow(800)}"     # its own lock/record files in /tmp
    tools = install(where, where / "state.json", version, {chip: 54}, {chip: {"17": "NODE1_PWR"}})
    if on_path:
        node.extra_env += f" PATH={where}:/usr/local/bin:/usr/bin:/bin"
        node.write_config()
        node.restart()
    return Controller(node, where / "state.json", chip, tools, version)


@pytest.fixture(params=[1, 2], ids=["v1", "v2"])
def ctl(request, ssh_lab):
    """Tests close c.access themselves: the connection belongs to the test's event loop."""
    c = start(ssh_lab, request.param)
    yield c
    stop(c)


def stop(c: Controller) -> None:
    """The node and the lock/record files its chip left in /tmp."""
    c.node.stop()
    for path in glob.glob(f"/tmp/roost-gpio-{c.chip}*"):
        os.unlink(path)


def someone_elses_output(chips, chip, offset=5):
    line = chips[f"/dev/{chip}"].lines[offset]
    line.output, line.driven = True, True


async def test_two_nodes_on_two_lines_never_disturb_others(ctl):
    edit(ctl.state, lambda chips: someone_elses_output(chips, ctl.chip))
    ctx = ctl.ctx()
    p1, p2 = ctl.driver("p1", ctx, line=17), ctl.driver("p2", ctx, line=22)
    assert [await p1.status(), await p2.status()] == [PowerState.OFF, PowerState.OFF]   # inputs, low
    await p1.on()
    assert [await p1.status(), await p2.status()] == [PowerState.ON, PowerState.OFF]
    await p2.on()
    await p1.off()
    assert [await p1.status(), await p2.status()] == [PowerState.OFF, PowerState.ON]
    lines, flipped = ctl.lines()
    assert (lines[17].output, lines[17].driven) == (True, False)
    assert (lines[22].output, lines[22].driven) == (True, True)
    assert (lines[5].output, lines[5].driven) == (True, True)                # someone else's: untouched
    assert not any(line.output for i, line in enumerate(lines) if i not in (5, 17, 22))
    assert all(line.owner is None for line in lines)                         # released after each call
    assert flipped == []                     # no gpioget ever turned an output into an input
    assert sum("--version" in c for c in ctl.commands) == 1                  # asked once per controller
    assert all("flock" in c for c in ctl.commands if "--version" not in c)
    if ctl.version == 1:
        assert "last value roost set" in p1.describe() and p1.readback_note
        assert not any("gpioget" in c.split("case")[-1].split("*)")[0] for c in ctl.commands
                       if "--mode=exit" in c)
    else:
        assert p1.readback_note is None and "-a" in next(c for c in ctl.commands if "gpioget" in c)
    await ctl.access.close()


async def test_active_low(ctl):
    d = ctl.driver(line=17, active_low=True)
    await d.on()
    lines, _ = ctl.lines()
    assert lines[17].output and not lines[17].driven
    assert await d.status() is PowerState.ON
    await d.off()
    lines, flipped = ctl.lines()
    assert lines[17].output and lines[17].driven and await d.status() is PowerState.OFF
    assert flipped == []
    await ctl.access.close()


async def test_level_is_read_back_from_the_chip(ctl):
    d = ctl.driver(line=17)
    await d.on()

    def pulled_low(chips):   # someone else drove our line low after we set it
        chips[f"/dev/{ctl.chip}"].lines[17].driven = False
    edit(ctl.state, pulled_low)
    state = await d.status()
    # v2 reads the line (--as-is); v1 can only report the last value roost set, and says so
    assert state is (PowerState.OFF if ctl.version == 2 else PowerState.ON)
    assert ctl.lines()[1] == []
    await ctl.access.close()


async def test_an_input_line_reads_its_outside_level(ctl):
    """A line nobody drives (a pull-up holds the node on): both versions read it without change
    (v1: gpioinfo says input, so gpioget cannot flip anything)."""
    def pulled_up(chips):
        chips[f"/dev/{ctl.chip}"].lines[22].outside = True
    edit(ctl.state, pulled_up)
    assert await ctl.driver(line=22).status() is PowerState.ON
    lines, flipped = ctl.lines()
    assert not lines[22].output and flipped == []
    await ctl.access.close()


async def test_errors_name_node_chip_and_line(ctl):
    ctx = ctl.ctx()
    bad_line = {1: r"Invalid argument", 2: r"offset 60 is out of range on chip"}[ctl.version]
    where = rf"^node n1: power gpio: /dev/{ctl.chip} line 60 on ctl: "
    with pytest.raises(PowerError, match=where + f".*{bad_line}"):
        await ctl.driver(ctx=ctx, line=60).on()
    no_chip = {1: r"No such file or directory", 2: r"cannot find GPIO chip character device"}[ctl.version]
    absent = f"{ctl.chip}0"          # no such chip; its lock file goes with ctl's in stop()
    with pytest.raises(PowerError, match=rf"^node n1: power gpio: /dev/{absent} line 1 on ctl: .*{no_chip}"):
        await build_driver("n1", {"driver": "gpio", "via": "ctl", "chip": absent, "line": 1}, ctx).on()

    def held(chips):
        chips[f"/dev/{ctl.chip}"].lines[4].owner = "fan-daemon"
    edit(ctl.state, held)
    with pytest.raises(PowerError, match=r"line 4 on ctl: .*Device or resource busy"):
        await ctl.driver(ctx=ctx, line=4).on()
    assert not ctl.lines()[0][4].output
    await ctl.access.close()


async def test_v1_never_reads_an_output_it_did_not_set(ssh_lab):
    c = start(ssh_lab, 1)
    try:
        edit(c.state, lambda chips: someone_elses_output(chips, c.chip, 9))
        d = c.driver(line=9)
        with pytest.raises(PowerError, match=r"line 9 on ctl: an output roost has not set .*cannot "
                                             r"read it without making it an input"):
            await d.status()

        def held(chips):
            chips[f"/dev/{c.chip}"].lines[9].owner = "fan-daemon"
        edit(c.state, held)
        with pytest.raises(PowerError, match=r'line 9 on ctl: held by "fan-daemon", not by roost'):
            await d.status()
        lines, flipped = c.lines()
        assert lines[9].output and lines[9].driven and flipped == []
    finally:
        await c.access.close()
        stop(c)


async def test_tools_missing_on_the_controller(ssh_lab):
    c = start(ssh_lab, 2, on_path=False)
    try:
        with pytest.raises(PowerError, match=r"^node n1: power gpio: gpioset not found on ctl "
                                             r"\(install libgpiod's tools there: apt install gpiod"):
            await c.driver(line=17).on()
        d = c.driver(line=17, gpioset=c.tools["gpioset"], gpioget="/nonexistent/gpioget")
        with pytest.raises(PowerError, match=r"line 17 on ctl: /nonexistent/gpioget not found on ctl"):
            await d.status()
        assert not c.lines()[0][17].output
    finally:
        await c.access.close()
        stop(c)


@pytest.mark.parametrize("version", [1, 2])
async def test_the_stand_ins_reproduce_the_hazards(ssh_lab, version):
    """The reason for the driver's care: gpioget without --as-is (all of v1) turns an output into
    an input, and v2 gpioset without -t0 never exits (it holds the line)."""
    c = start(ssh_lab, version)
    run = c.access.runner_for("ctl")
    try:
        if version == 1:
            assert (await run(f"gpioset --mode=exit {c.chip} 3=1", 5)).exit_status == 0
            out = await run(f"gpioget {c.chip} 3", 5)      # now an input: reads the pull, not our 1
            assert out.stdout.strip() == "0"
            info = (await run(f"gpioinfo {c.chip}", 5)).stdout.splitlines()
            assert info[0] == f"{c.chip} - 54 lines:" and " output " not in info[4]
            assert 'line  17:  "NODE1_PWR"       unused   input  active-high' in info[18]
        else:
            assert (await run(f"gpioset -c {c.chip} -t0 3=1 4=on", 5)).exit_status == 0
            assert (await run(f"gpioget -c {c.chip} -a 4", 5)).stdout == '"4"=active\n'
            assert (await run(f"gpioget -c {c.chip} --numeric 3", 5)).stdout == "0\n"
            with pytest.raises(PowerError, match="timed out"):
                await run(f"gpioset -c {c.chip} 6=1", 1.0)      # no -t0: holds the line, never exits
            assert c.lines()[0][6].owner == "gpioset"
        lines, flipped = c.lines()
        assert not lines[3].output and flipped == [{"chip": f"/dev/{c.chip}", "line": 3,
                                                    "by": flipped[0]["by"]}]
        assert version == 1 or lines[4].output
    finally:
        await c.access.close()
        stop(c)


async def test_safe_sequences_drive_the_line(ctl):
    """on (wait for SSH) and a hard off through the Sequencer: its read-backs after each switch
    work on v2 (read) and v1 (the last value set), and the Shown state carries the driver's word."""
    from console.power.sequence import PowerNode, Sequencer, Timing

    class Reach:
        async def reachable(self, name, timeout=3.0):
            return ctl.lines()[0][17].driven          # the board "boots" when its line is high

        async def shutdown(self, name, command, timeout=15.0):
            raise AssertionError("hard off must not shut down")

    d = ctl.driver("p1", line=17)
    seq = Sequencer({"p1": PowerNode("p1", d)}, Reach(), Timing(stagger=0, poll=0.01, grace=0))
    on, = await seq.on(["p1"])
    assert on.ok and on.message.startswith("up, SSH answered"), on
    shown, = await seq.status(["p1"])
    assert shown.text.startswith("on")
    # v1 cannot read an output back: `roost power status` says the state is what roost set
    assert ("last value roost set" in shown.text) == (ctl.version == 1)
    off, = await seq.off(["p1"], hard=True)
    assert off.ok and off.message == "power cut", off
    shown, = await seq.status(["p1"])
    assert (shown.state, shown.reachable) == (PowerState.OFF, False)
    assert ("last value roost set" in d.describe()) == (ctl.version == 1)
    await ctl.access.close()

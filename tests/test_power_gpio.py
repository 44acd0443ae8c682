"""GPIO driver through libgpiod v2's API against a GPIO controller model (no GPIO here)."""
from __future__ import annotations

import pytest

from console.power.base import PowerConfigError, PowerError, PowerState
from console.power.registry import Context, build_driver
from tests.lab.gpiosim import SimChip, SimGpio


@pytest.fixture
def gpio():
    return SimGpio(SimChip.make("/dev/gpiochip0", 54))


def line_driver(gpio, node="n1", **table):
    return build_driver(node, {"driver": "gpio", **table}, Context(gpio=gpio))


@pytest.mark.parametrize("active_low", [False, True])
async def test_on_off_status_drive_only_their_line(gpio, active_low):
    chip = gpio.chips["/dev/gpiochip0"]
    chip.lines[22].output, chip.lines[22].driven = True, True        # someone else's output
    d = line_driver(gpio, line=17, active_low=active_low)
    await d.on()
    assert chip.lines[17].output and chip.lines[17].level == (not active_low)
    assert await d.status() is PowerState.ON
    await d.off()
    assert chip.lines[17].level == active_low and await d.status() is PowerState.OFF
    assert chip.lines[22].output and chip.lines[22].driven                # untouched
    assert chip.lines[17].owner == "roost-power"                         # held while we drive it
    await d.close()
    assert all(line.owner is None for line in chip.lines)
    assert chip.lines[17].level == active_low                            # released, level kept


async def test_status_does_not_turn_an_output_into_an_input(gpio):
    chip = gpio.chips["/dev/gpiochip0"]
    d = line_driver(gpio, line=5)
    await d.on()
    await d.status()
    assert chip.lines[5].output and chip.lines[5].driven


async def test_errors_are_one_line(gpio):
    chip = gpio.chips["/dev/gpiochip0"]
    chip.lines[4].owner = "gpioset"
    with pytest.raises(PowerError, match=r"^node n1: power gpio: /dev/gpiochip0 line 4 is in use by another program"):
        await line_driver(gpio, line=4).on()
    assert not chip.lines[4].output
    with pytest.raises(PowerError, match="no GPIO chip /dev/gpiochip7 on this host"):
        await line_driver(gpio, chip="gpiochip7", line=1).status()
    with pytest.raises(PowerError, match="/dev/gpiochip0 has no line 60"):
        await line_driver(gpio, line=60).status()


def test_a_line_on_a_controller_goes_through_its_ssh_runner(gpio):
    from console.power.gpio_remote import RemoteGpioDriver
    with pytest.raises(PowerConfigError, match="power via ctl: no SSH connection available"):
        line_driver(gpio, line=1, via="ctl")
    d = build_driver("n1", {"driver": "gpio", "via": "ctl", "line": 1},
                     Context(runner_for=lambda via: None))
    assert isinstance(d, RemoteGpioDriver) and d.channel == ("gpio", "ctl", "/dev/gpiochip0", 1)
    assert d.describe() == "gpio /dev/gpiochip0 line 1 via ctl"

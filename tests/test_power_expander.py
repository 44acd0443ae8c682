"""Expander driver against the register-accurate chip models (no I2C in this kernel)."""
from __future__ import annotations

import asyncio

import pytest
from hypothesis import given, settings, strategies as st

from console.power.base import PowerConfigError, PowerError, PowerState
from console.power.chips import CHIPS, MCP23017, PCA9555, XRA1200
from console.power.registry import Context, build_driver, check_channels
from tests.lab.chipsim import QuasiChip, RegisterChip, SimBus, make_chip


def driver_on(bus: SimBus, node: str = "n1", **table):
    raw = {"driver": "expander", "bus": bus.bus, **table}
    return build_driver(node, raw, Context(i2c_opener=lambda n: bus))


def run(coro):
    return asyncio.run(coro)


# ---------------------------------------------------------------- the models follow the datasheets

def test_xra1200_power_on_defaults_and_read_only_gsr():
    chip = RegisterChip(XRA1200, external=0b1010_0101)
    assert chip.read_register(0x03) == 0xFF          # GCR: all inputs
    assert chip.read_register(0x01) == 0xFF          # OCR
    assert chip.read_register(0x00) == 0b1010_0101   # GSR shows the outside levels
    chip.write_register(0x00, 0x00)                  # GSR is read-only
    assert chip.read_register(0x00) == 0b1010_0101
    with pytest.raises(OSError):
        chip.read_register(0x0B)                     # past IFR: no register


def test_polarity_inverts_inputs_only():
    chip = RegisterChip(PCA9555, external=0x0000)
    chip.write_register(4, 0xFF)                     # invert all of port 0
    chip.write_register(2, 0x01)                     # latch pin 0 high
    chip.write_register(6, 0xFE)                     # pin 0 output
    assert chip.read_register(0) == 0xFF             # pin 0 output: real level 1; inputs 0 ^ 1


def test_mcp23017_gpio_write_lands_in_olat_and_bank1_remaps():
    chip = RegisterChip(MCP23017)
    chip.write_register(0x12, 0x0F)                  # GPIOA
    assert chip.read_register(0x14) == 0x0F          # OLATA
    chip.write_register(0x0A, 0x80)                  # IOCON.BANK = 1
    assert chip.read_register(0x0A) == 0x0F          # 0x0A is now OLATA
    assert chip.read_register(0x05) == 0x80          # IOCON moved to 0x05


def test_pcf8574_byte_data_writes_the_register_byte_too():
    bus = SimBus(1, {0x20: make_chip("pcf8574")})
    bus.write_byte_data(0x20, 0x00, 0xF0)            # two data bytes: both become port values
    assert bus.devices[0x20].latch == 0xF0
    bus.read_byte_data(0x20, 0x07)                   # the "register" byte overwrote the latch
    assert bus.devices[0x20].latch == 0x07


def test_missing_device_is_a_remote_io_error():
    with pytest.raises(OSError) as e:
        SimBus(1).read_byte_data(0x20, 0)
    assert e.value.errno == 121


# ---------------------------------------------------------------- the driver

@pytest.mark.parametrize("name", list(CHIPS))
@pytest.mark.parametrize("active_low", [False, True])
def test_on_off_status_each_chip(name, active_low):
    spec = CHIPS[name]
    bus = SimBus(1, {spec.addresses[0]: make_chip(name)})
    d = driver_on(bus, chip=name, address=spec.addresses[0], pin=spec.pins - 1,
                  active_low=active_low)
    for want in (PowerState.ON, PowerState.OFF, PowerState.ON):
        run(d.on() if want is PowerState.ON else d.off())
        assert run(d.status()) is want
        level = bool(bus.devices[spec.addresses[0]].levels() >> (spec.pins - 1) & 1)
        assert level == ((want is PowerState.ON) != active_low)


def test_cluster_hat_default_address_and_pins():
    bus = SimBus(1, {0x20: make_chip("xra1200")})
    for pin in range(4):
        run(driver_on(bus, f"p{pin + 1}", chip="xra1200", pin=pin).on())
    chip = bus.devices[0x20]
    assert chip.regs["GCR"] & 0x0F == 0 and chip.regs["GCR"] & 0xF0 == 0xF0
    assert chip.levels() & 0x0F == 0x0F


def test_latch_is_written_before_direction_so_no_glitch():
    bus = SimBus(1, {0x20: make_chip("pca9555", external=0)})
    bus.devices[0x20].regs["OUTPUT0"] = 0x00        # latch low, pin still input
    run(driver_on(bus, chip="pca9555", address=0x20, pin=3).on())
    writes = [t for t in bus.transactions if t[0] == "write_byte_data"]
    assert writes == [("write_byte_data", 0x20, 2, 0x08), ("write_byte_data", 0x20, 6, 0xF7)]


def test_no_write_when_already_in_state():
    bus = SimBus(1, {0x20: make_chip("xra1200")})
    d = driver_on(bus, chip="xra1200", pin=1)
    run(d.on())
    bus.transactions.clear()
    run(d.on())
    assert not [t for t in bus.transactions if t[0].startswith("write")]


def test_mcp23017_rmw_uses_olat_not_gpio():
    """An output pin loaded down reads low on GPIO; RMW from GPIO would switch it off."""
    chip = make_chip("mcp23017")
    bus = SimBus(1, {0x21: chip})
    chip.regs["IODIRA"], chip.regs["OLATA"] = 0x00, 0x01  # pin 0: output latched high
    chip.regs["IODIRA"] = 0x02                             # ...except pin 1 input
    run(driver_on(bus, "n2", chip="mcp23017", address=0x21, pin=1).on())
    assert chip.regs["OLATA"] & 0x01


def test_pin_driven_from_outside_is_reported_not_hidden():
    chip = make_chip("xra1200")
    chip.regs["TSCR"] = 0x01                              # pin 0 tri-stated: not driven
    chip.external = 0x00
    bus = SimBus(1, {0x20: chip})
    with pytest.raises(PowerError, match="node n1: power expander: wrote pin 0 high but it reads low"):
        run(driver_on(bus, chip="xra1200", pin=0).on())


def test_bus_errors_name_node_bus_and_address():
    d = driver_on(SimBus(1), chip="pca9555", address=0x24, pin=0)
    with pytest.raises(PowerError, match=r"node n1: power expander: I2C read failed at /dev/i2c-1 0x24"):
        run(d.status())


# ---------------------------------------------------------------- read-modify-write never disturbs

def _snapshot(chip):
    if isinstance(chip, QuasiChip):
        return {}
    return dict(chip.regs)


@settings(max_examples=60, deadline=None)
@given(name=st.sampled_from(sorted(CHIPS)), seed=st.randoms(use_true_random=False),
       ops=st.lists(st.tuples(st.integers(0, 15), st.booleans(), st.booleans()), min_size=1, max_size=6))
def test_rmw_never_disturbs_other_pins(name, seed, ops):
    spec = CHIPS[name]
    chip = make_chip(name, external=seed.getrandbits(spec.pins))
    if isinstance(chip, RegisterChip):          # random other-pin setup: directions, latches, inversion
        for reg in spec.output + spec.config + spec.polarity:
            chip.write_register(reg, seed.getrandbits(8))
    else:
        chip.latch = seed.getrandbits(8)
    bus = SimBus(1, {spec.addresses[0]: chip})
    for pin, on, active_low in ops:
        pin %= spec.pins
        before_levels, before_regs = chip.levels(), _snapshot(chip)
        d = driver_on(bus, chip=name, address=spec.addresses[0], pin=pin, active_low=active_low)
        try:
            run(d.on() if on else d.off())
        except PowerError:                      # a tri-stated/outside-held pin: reported, fine
            pass
        mask = ~(1 << pin)
        assert chip.levels() & mask == before_levels & mask
        port, bit = divmod(pin, 8)
        for reg, value in _snapshot(chip).items():
            own = reg in (spec.registers.get(r) for r in (spec.output[port], spec.config[port]))
            keep = ~(1 << bit) & 0xFF if own else 0xFF
            assert value & keep == before_regs[reg] & keep, (reg, pin)


# ---------------------------------------------------------------- bad input: one clear line

@pytest.mark.parametrize("table, message", [
    ({"chip": "xra9999", "pin": 0}, "node n1: power.chip: unknown chip 'xra9999' (known: xra1200"),
    ({"chip": "xra1200", "pin": 8}, "node n1: power.pin: expected 0-7 for xra1200, got 8"),
    ({"chip": "pca9555", "pin": 0}, "node n1: power.address: required for pca9555 (one of 0x20-0x27)"),
    ({"chip": "pcf8574a", "address": 0x20, "pin": 0},
     "node n1: power.address: 0x20 is not an address a pcf8574a can have (0x38-0x3f)"),
    ({"chip": "xra1200", "pin": "x"}, "node n1: power.pin: expected an integer, got 'x'"),
    ({"chip": "xra1200", "pin": 0, "colour": "red"}, "node n1: power.colour: unknown key"),
    ({"chip": "xra1200", "pin": 0, "password": "hunter2"},
     "node n1: power.password: secrets never go in the config"),
])
def test_bad_tables_are_one_line(table, message):
    with pytest.raises(PowerConfigError) as e:
        driver_on(SimBus(1), **table)
    assert str(e.value).startswith(message)
    assert "\n" not in str(e.value) and "hunter2" not in str(e.value)


def test_unknown_driver():
    with pytest.raises(PowerConfigError, match=r"node n4: power.driver: expected one of expander, .* got 'relay'"):
        build_driver("n4", {"driver": "relay"})


def test_template_pin_from_index():
    bus = SimBus(1, {0x20: make_chip("xra1200")})
    d = build_driver("p3", {"driver": "expander", "chip": "xra1200", "pin": "{index0}"},
                     Context(i2c_opener=lambda n: bus), index=3)
    assert d.pin == 2


def test_two_nodes_on_one_pin_is_refused_and_nothing_switches():
    bus = SimBus(1, {0x20: make_chip("xra1200")})
    ds = [driver_on(bus, n, chip="xra1200", pin=0) for n in ("n1", "n2")]
    with pytest.raises(PowerConfigError, match="nodes n1, n2: power: all use xra1200 /dev/i2c-1 address 0x20 pin 0"):
        check_channels(ds)
    assert bus.transactions == []
    shared = [driver_on(bus, n, chip="xra1200", pin=0, shared=True) for n in ("n1", "n2")]
    check_channels(shared)


def test_the_documented_examples_build(tmp_path):
    """console/power/TABLES.md's examples are real config: they load and build drivers."""
    import re
    from pathlib import Path

    from console.config import load_config
    doc = (Path(__file__).parent.parent / "console/power/TABLES.md").read_text()
    example = re.search(r"```toml\n(.*?)```", doc, re.S).group(1)
    (tmp_path / "tpi.pw").write_text("x")
    (tmp_path / "tpi.pw").chmod(0o600)
    conf = tmp_path / "roost.toml"
    conf.write_text(example.replace("~/.config/roost/tpi.pw", str(tmp_path / "tpi.pw")))
    config = load_config(conf, env={})
    ctx = Context(runner_for=lambda via: None, env={"ROOST_IPMI_PW": "x"})
    drivers = [build_driver(n.name, n.power, ctx, index=n.index) for n in config.nodes]
    assert [d.describe() for d in drivers][:2] == ["xra1200 bus 1 on ctl address 0x20 pin 0",
                                                   "xra1200 bus 1 on ctl address 0x20 pin 1"]
    check_channels(drivers)


def test_real_smbus2_on_a_host_without_that_bus():
    """No /dev/i2c-* in this kernel: the real smbus2 open fails and says which device."""
    d = build_driver("n1", {"driver": "expander", "chip": "xra1200", "bus": 7, "pin": 0})
    with pytest.raises(PowerError,
                       match=r"^node n1: power expander: cannot open /dev/i2c-7: No such file or directory$"):
        run(d.status())


def test_tables_doc_is_generated_from_the_drivers():
    from pathlib import Path

    from console.power.docs import tables_markdown
    doc = Path(__file__).parent.parent / "console/power/TABLES.md"
    assert doc.read_text() == tables_markdown(), "run: python -m console.power.docs > console/power/TABLES.md"

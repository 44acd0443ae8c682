"""Demo board profiles: the bytes roost parses look like the real boards', and the physics move.

Each profile is written as an on-disk tree (symlinks and all) and read with roost's own local tree
reader; the sampler frame the demo SSH server sends must carry exactly the same keys and bytes.
"""
from __future__ import annotations

import random
from pathlib import Path

import pytest

from collectors.fileset import LINKS, dynamic_patterns, slow_patterns, static_patterns
from collectors.frame import FrameDecoder, encode_frame
from collectors.snapshot import build_sample
from collectors.tree import read_tree
from console.demo.boards import PROFILES, fleet_profiles, profile_for
from console.demo.layout import build_layout
from console.demo.sim import BoardSim
from console.demo.tree import write_tree

NOW = 1_790_000_000.0


def _board(name: str, seed: int = 1) -> tuple:
    lay = build_layout(PROFILES[name], f"{name}-01")
    return lay, BoardSim(lay, random.Random(seed), 24.0, NOW)


def _matches(key: str, patterns: tuple[str, ...]) -> bool:
    from fnmatch import fnmatchcase
    parts = key.split("/")
    return any(len(p.split("/")) == len(parts) and
               all(fnmatchcase(a, b) for a, b in zip(parts, p.split("/"))) for p in patterns)


@pytest.mark.parametrize("name", sorted(PROFILES))
def test_frame_keys_are_the_sampler_globs(name):
    lay, sim = _board(name)
    assert all(_matches(k, static_patterns()) for k in lay.static), name
    assert all(_matches(k, dynamic_patterns()) for k in sim.files(NOW + 1)), name
    assert all(_matches(k, slow_patterns()) or k.startswith("cmd/") for k in sim.slow_files(NOW)), name
    assert all(_matches(k, dynamic_patterns()) for k in sim.counter_files()), name
    assert all(_matches(k, LINKS) for k in lay.links), name


@pytest.mark.parametrize("name", sorted(PROFILES))
def test_tree_on_disk_reads_like_the_frame(name, tmp_path: Path):
    lay, sim = _board(name)
    files = {**sim.files(NOW + 1), **sim.slow_files(NOW), **sim.counter_files()}
    root = write_tree(tmp_path / name, lay, files)
    snap = read_tree(str(root / "proc"), str(root / "sys"))
    frame = FrameDecoder().feed(encode_frame(0, NOW + 1, files, static=lay.static,
                                             links=lay.links))[0]
    assert dict(snap.files) == dict(frame.snapshot.files)
    assert dict(snap.links) == dict(frame.snapshot.links)


@pytest.mark.parametrize("name", sorted(PROFILES))
def test_parsers_read_every_profile_cleanly(name):
    lay, sim = _board(name)
    frame = FrameDecoder().feed(encode_frame(0, NOW + 1, sim.files(NOW + 1),
                                             static=lay.static, links=lay.links))[0]
    s = build_sample(name, frame.snapshot, NOW + 1)
    p = PROFILES[name]
    assert s.problems == ()
    assert len(s.cpus) == p.cores and s.facts.cores in (None, p.cores)
    assert s.facts.hostname == f"{name}-01"
    assert (s.facts.model or "") .startswith((p.model or p.product or "")[:6])
    assert {z.type for z in s.thermal} == {z.type for z in p.zones}
    assert len(s.cpufreq) == p.cores
    assert s.memory.total == p.mem_kb * 1024
    assert {n.device for n in s.net} == {"lo", *(n.name for n in p.nics)}
    assert (s.throttle is not None) == p.rpi
    kinds = {(h.chip_name, h.kind) for h in s.hwmon}
    if p.fan:
        assert ("pwmfan", "pwm") in kinds
        assert (("pwmfan", "fan") in kinds) == p.fan.tach


def test_real_shapes_of_the_named_boards():
    assert PROFILES["rk1"].cores == 8 and len(PROFILES["rk1"].zones) == 7
    rp64 = PROFILES["rockpro64"]
    assert [len(c.cpus) for c in rp64.clusters] == [4, 2] and rp64.fan and not rp64.fan.tach
    assert PROFILES["rpi5"].fan.tach
    zero = PROFILES["pizero2"]
    assert zero.fan is None and zero.nics[0].name == "usb0" and zero.nics[0].wrap32
    lay, sim = _board("x86")
    assert "coretemp" in lay.static["sys/class/hwmon/hwmon1/name"]


def test_big_little_clusters_parse_as_clusters():
    lay, sim = _board("rk1")
    frame = FrameDecoder().feed(encode_frame(0, NOW, sim.files(NOW + 1), static=lay.static))[0]
    s = build_sample("rk1", frame.snapshot, NOW)
    related = {f.related_cpus for f in s.cpufreq}
    assert related == {(0, 1, 2, 3), (4, 5), (6, 7)}
    assert max(f.max_hz for f in s.cpufreq) == 2_256_000_000


def _run(sim: BoardSim, seconds: int, start: float = NOW) -> list[dict]:
    return [sim.files(start + t) for t in range(1, seconds + 1)]


def test_temperature_follows_load_with_a_time_constant():
    lay, sim = _board("rpi4")
    sim.work_k, sim.work_u, sim.work_until = 0, 0.0, NOW + 10_000
    _run(sim, 600)
    idle = sim.temp
    sim.jobs = 4                                  # four real jobs pin every core
    first = _run(sim, 5, NOW + 600)
    assert sim.temp - idle < 10                   # no jump: it climbs with tau
    _run(sim, 600, NOW + 605)
    assert sim.temp - idle > 25
    assert int(first[-1]["sys/class/thermal/thermal_zone0/temp"]) % PROFILES["rpi4"].temp_step == 0


def test_hot_board_throttles_its_frequency_and_raises_flags():
    lay, sim = _board("rpi4")
    sim.ambient, sim.jobs = 40.0, 4               # a hot cupboard under full load
    files = _run(sim, 900)
    freqs = [int(f["sys/devices/system/cpu/cpu0/cpufreq/scaling_cur_freq"]) for f in files]
    assert max(freqs) == 1_800_000 and freqs[-1] < 1_800_000
    assert int(files[-1]["sys/devices/platform/soc/soc:firmware/get_throttled"], 16) & 0x20002


def test_fan_follows_its_curve_and_tach_reports_rpm():
    lay, sim = _board("rpi5")
    sim.jobs = 4
    files = _run(sim, 400)
    pwm = int(files[-1][lay.fan_pwm])
    rpm = int(files[-1][lay.fan_rpm])
    assert pwm > 0 and rpm > 1000
    assert int(files[0][lay.fan_pwm]) <= pwm


def test_pi_zero_usb0_counter_wraps_at_32_bits():
    lay, sim = _board("pizero2")
    sim.jobs = 4
    values = []
    for f in _run(sim, 120):
        line = next(x for x in f["proc/net/dev"].splitlines() if x.strip().startswith("usb0:"))
        values.append(int(line.split(":")[1].split()[0]))
    assert all(v < 2**32 for v in values)
    assert any(b < a for a, b in zip(values, values[1:]))    # it wrapped


def test_load_comes_and_goes_and_is_seeded():
    a, b = _board("rk1", seed=7)[1], _board("rk1", seed=7)[1]
    la = [float(a.files(NOW + t)["proc/loadavg"].split()[0]) for t in range(1, 600)]
    lb = [float(b.files(NOW + t)["proc/loadavg"].split()[0]) for t in range(1, 600)]
    assert la == lb
    assert max(la) - min(la) > 1.0


def test_undervoltage_happens_on_pis_now_and_then():
    lay, sim = _board("pizero2", seed=3)
    flags = [int(f[lay.throttled], 16) for f in _run(sim, 3600)]
    assert any(f & 0x1 for f in flags) and not all(f & 0x1 for f in flags)


def test_reboot_resets_uptime_and_counters():
    lay, sim = _board("sopine")
    before = sim.files(NOW + 1)["proc/uptime"]
    sim.boot(NOW + 2, NOW + 2)
    after = sim.files(NOW + 3)["proc/uptime"]
    assert float(after.split()[0]) < 2 < float(before.split()[0])


def test_bad_profile_name_is_one_clear_error():
    with pytest.raises(ValueError, match="unknown demo profile 'pi9'.*mixed"):
        profile_for("pi9")
    assert {p.name for p in fleet_profiles(12, "mixed")} == set(PROFILES)


def test_demo_package_is_ui_free():
    import subprocess
    import sys
    mods = ["boards", "layout", "sim", "tree", "node", "shell", "ticker", "power", "fleet",
            "control", "inventory", "runner", "cli"]
    code = ("import sys\n" + "".join(f"import console.demo.{m}\n" for m in mods) +
            "bad = [m for m in ('textual', 'rich', 'plotext') if m in sys.modules]\n"
            "print(','.join(bad))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_fresh_boot_starts_network_counters_near_zero():
    lay, sim = _board("pizero2")
    sim.boot(NOW - 3.0, NOW)
    usb0 = next(x for x in sim.files(NOW + 1)["proc/net/dev"].splitlines() if "usb0:" in x)
    assert int(usb0.split(":")[1].split()[0]) < 10_000_000

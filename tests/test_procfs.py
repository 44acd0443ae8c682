"""procfs parsers: exact values on captured text, round trips of generated text, total on garbage."""
from __future__ import annotations

import math

from hypothesis import given, settings, strategies as st

from collectors import procfs
from collectors.model import CpuTimes, LoadAvg, Memory, NetCounters

FIELDS = ("user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal", "guest", "guest_nice")
ticks = st.integers(min_value=0, max_value=2 ** 53)
garbage = st.text(max_size=300) | st.binary(max_size=200).map(lambda b: b.decode("latin-1"))


def test_stat_line_in_seconds_with_guest_modes():
    total, cores = procfs.parse_stat("cpu  301854 612 111922 8979004 3552 2 3944 0 44 36\n"
                                     "cpu0 44490 19 21045 1087069 220 1 3410 0 2 1\nintr 1 2\n")
    assert total.cpu == "" and total.user == 3018.54 and total.guest_nice == 0.36
    assert cores == (CpuTimes("0", 444.9, 0.19, 210.45, 10870.69, 2.2, 0.01, 34.1, 0.0, 0.02, 0.01),)


def test_old_kernel_stat_with_four_fields():
    _, cores = procfs.parse_stat("cpu0 100 0 50 1000\n")
    assert cores[0].idle == 10.0 and cores[0].steal == 0.0


def test_bad_stat_lines_are_skipped_not_guessed():
    _, cores = procfs.parse_stat("cpu0 1 2 3 x\ncpuX 1 2 3 4\ncpu1 1 2 3 4\ncpu2 -1 2 3 4\n")
    assert [c.cpu for c in cores] == ["1"]


@settings(max_examples=200)
@given(st.lists(st.tuples(*[ticks] * 10), min_size=1, max_size=16), st.integers(0, 2 ** 40))
def test_stat_round_trip(rows, btime):
    lines = [f"cpu  {' '.join(map(str, rows[0]))}"]
    lines += [f"cpu{i} {' '.join(map(str, r))}" for i, r in enumerate(rows)]
    text = "\n".join(lines + ["intr 5 0 0", "ctxt 9", f"btime {btime}", "processes 3"]) + "\n"
    total, cores = procfs.parse_stat(text)
    assert [c.cpu for c in cores] == [str(i) for i in range(len(rows))]
    for core, row in zip(cores, rows):
        assert tuple(getattr(core, f) for f in FIELDS) == tuple(v / 100 for v in row)
    assert total.user == rows[0][0] / 100
    assert procfs.parse_btime(text) == float(btime)


def test_meminfo_bytes_and_unitless_counts():
    mem = procfs.parse_meminfo("MemTotal:  3742148 kB\nActive(anon):  2020004 kB\nHugePages_Total:  7\n")
    assert mem.total == 3742148 * 1024 and mem.fields["Active(anon)"] == 2020004 * 1024
    assert mem.fields["HugePages_Total"] == 7 and mem.available is None


key = st.from_regex(r"[A-Za-z][A-Za-z0-9_]{0,15}(\([a-z]{1,5}\))?", fullmatch=True)


@settings(max_examples=200)
@given(st.dictionaries(key, st.tuples(st.integers(0, 2 ** 44), st.booleans()), min_size=1))
def test_meminfo_round_trip(fields):
    text = "".join(f"{k}:{' ' * 5}{v}{' kB' if kb else ''}\n" for k, (v, kb) in fields.items())
    mem = procfs.parse_meminfo(text)
    assert dict(mem.fields) == {k: float(v * 1024 if kb else v) for k, (v, kb) in fields.items()}


def test_loadavg_and_uptime():
    assert procfs.parse_loadavg("0.52 0.58 0.59 2/211 14233\n") == LoadAvg(0.52, 0.58, 0.59, 2, 211)
    assert procfs.parse_uptime("86400.12 300000.50\n") == 86400.12
    assert procfs.parse_loadavg("nan 1 1") is None and procfs.parse_uptime("inf 1") is None


@given(st.lists(st.integers(0, 10 ** 6), min_size=3, max_size=3), st.integers(0, 999), st.integers(0, 10 ** 6))
def test_loadavg_round_trip(hundredths, running, procs):
    loads = [h / 100 for h in hundredths]
    text = f"{loads[0]:.2f} {loads[1]:.2f} {loads[2]:.2f} {running}/{procs} 1234\n"
    assert procfs.parse_loadavg(text) == LoadAvg(*loads, running=running, processes=procs)


NETDEV_HEAD = ("Inter-|   Receive                                                |  Transmit\n"
               " face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo "
               "colls carrier compressed\n")


@settings(max_examples=150)
@given(st.dictionaries(st.from_regex(r"[a-z][a-z0-9.\-]{0,12}", fullmatch=True),
                       st.lists(st.integers(0, 2 ** 64 - 1), min_size=16, max_size=16), max_size=8))
def test_net_dev_round_trip(devices):
    text = NETDEV_HEAD + "".join(f"{d:>6}: {' '.join(map(str, v))}\n" for d, v in devices.items())
    parsed = {n.device: n for n in procfs.parse_net_dev(text)}
    assert parsed == {d: NetCounters(d, *v[0:4], *v[8:12]) for d, v in devices.items()}


def test_cpuinfo_x86_arm64_and_pi():
    assert procfs.parse_cpuinfo("processor\t: 0\nmodel name\t: Intel(R) Xeon\nprocessor\t: 1\n") == \
        ("Intel(R) Xeon", 2, None)
    arm = "".join(f"processor\t: {i}\nCPU implementer\t: 0x41\nCPU part\t: 0xd08\n\n" for i in range(4))
    assert procfs.parse_cpuinfo(arm + "Model\t\t: Raspberry Pi 4 Model B Rev 1.4\n") == \
        ("Cortex-A72", 4, "Raspberry Pi 4 Model B Rev 1.4")


def test_numbers_refuse_python_only_spellings():
    for bad in ("1_0", "٣", "nan", "inf", "-inf", "0x10", "", " ", "1.", "+"):
        assert procfs.parse_int(bad) is None
    for bad in ("1_0.5", "nan", "infinity", "", "1e999"):
        assert procfs.parse_float(bad) is None
    assert procfs.parse_int(" -5\n") == -5 and procfs.parse_float("0.52") == 0.52


@settings(max_examples=300)
@given(garbage)
def test_every_parser_is_total_on_garbage(text):
    total, cores = procfs.parse_stat(text)
    assert all(isinstance(c, CpuTimes) and all(math.isfinite(getattr(c, f)) and getattr(c, f) >= 0
                                               for f in FIELDS) for c in (*cores, *filter(None, [total])))
    load = procfs.parse_loadavg(text)
    assert load is None or min(load.load1, load.load5, load.load15) >= 0
    mem = procfs.parse_meminfo(text)
    assert mem is None or (isinstance(mem, Memory) and all(math.isfinite(v) for v in mem.fields.values()))
    up = procfs.parse_uptime(text)
    assert up is None or (math.isfinite(up) and up >= 0)
    assert all(isinstance(n, NetCounters) for n in procfs.parse_net_dev(text))
    bt = procfs.parse_btime(text)
    assert bt is None or bt >= 0
    procfs.parse_cpuinfo(text)

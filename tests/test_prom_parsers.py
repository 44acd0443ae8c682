"""The parsers behind node_exporter's other collectors, storage and power: captured kernel text in,
values out; garbage in, nothing made up and no exception (hypothesis)."""
from __future__ import annotations

import pytest
from hypothesis import given, settings, strategies as st

from collectors import cmdout, procfs, sysfs
from collectors.fileset import COMMANDS, slow_ticks
from collectors.health import power_draw, wear_level, whole_disks
from collectors.model import DiskStats, HwmonReading, MmcHealth, PowerSupply, Sample
from collectors.sinks.node_sections import hwmon_metric, scaled

NETSTAT = """TcpExt: SyncookiesSent SyncookiesRecv ListenOverflows ListenDrops TCPTimeouts
TcpExt: 0 0 12 14 3
IpExt: InNoRoutes InOctets OutOctets
IpExt: 0 123456 654321
"""
SNMP6 = "Ip6InReceives                   \t1480\nIcmp6InMsgs \t7\nUdp6InDatagrams 12\nUdpLite6InErrors 0\n"
SOFTNET = ("0001c86f 00000000 00000002 00000000 00000000 00000000 00000000 00000000 00000000 "
           "00000000 00000000 00000000 00000000\n"
           "0001a116 00000001 00000000 00000000 00000000 00000000 00000000 00000000 00000000 "
           "00000000 00000003 00000000 00000001\n")
UDP = ("   sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n"
       "  1: 00000000:0143 00000000:0000 07 00000010:00000200 00:00000000 00000000   108 0 14400 2\n"
       "  2: 00000000:0044 00000000:0000 07 00000000:00000020 00:00000000 00000000     0 0 14401 2\n")
CONNTRACK = ("entries  clashres found new invalid ignore\n"
             "00000003  00000000 0000000a 00000000 00000001 00000002\n"
             "00000003  00000000 00000005 00000000 00000000 00000002\n")
SCHED = ("version 15\ntimestamp 4294967296\ncpu0 0 0 0 0 0 0 2045936778163039 343796328169361 4767485306\n"
         "domain0 00000000,00000003 212840 210866 1921 1\ncpu1 0 0 0 0 0 0 1 2 3\n")


def test_netstat_and_snmp6_keys_are_node_exporters():
    assert procfs.parse_netstat(NETSTAT) == {
        "TcpExt_SyncookiesSent": 0, "TcpExt_SyncookiesRecv": 0, "TcpExt_ListenOverflows": 12,
        "TcpExt_ListenDrops": 14, "TcpExt_TCPTimeouts": 3, "IpExt_InNoRoutes": 0,
        "IpExt_InOctets": 123456, "IpExt_OutOctets": 654321}
    assert procfs.parse_snmp6(SNMP6) == {"Ip6_InReceives": 1480, "Icmp6_InMsgs": 7,
                                         "Udp6_InDatagrams": 12, "UdpLite6_InErrors": 0}


def test_mismatched_netstat_pairs_are_dropped():
    assert procfs.parse_netstat("Tcp: A B\nTcp: 1\nUdp: C\nUdp: 4\n") == {"Udp_C": 4}


def test_softnet_udp_conntrack_schedstat():
    rows = procfs.parse_softnet(SOFTNET)
    assert rows[0]["processed"] == 0x1c86f and rows[0]["times_squeezed"] == 2
    assert rows[1]["dropped"] == 1 and rows[1]["flow_limit_count"] == 3 and rows[1]["index"] == 1
    assert procfs.parse_udp_queues(UDP) == (0x10, 0x220)
    assert procfs.parse_udp_queues("garbage") is None
    assert procfs.parse_conntrack_stat(CONNTRACK) == {"entries": 6, "clashres": 0, "found": 15,
                                                      "new": 0, "invalid": 1, "ignore": 4}
    assert procfs.parse_schedstat(SCHED) == (("0", 2045936778163039, 343796328169361, 4767485306),
                                             ("1", 1, 2, 3))


def test_sockstat_pressure_filenr_arp_stat():
    assert procfs.parse_sockstat("sockets: used 16\nTCP: inuse 1 orphan 0 tw 591 alloc 1 mem 21\n"
                                 "FRAG: inuse 0 memory 0\n") == {
        "sockets_used": 16, "TCP_inuse": 1, "TCP_orphan": 0, "TCP_tw": 591, "TCP_alloc": 1,
        "TCP_mem": 21, "FRAG_inuse": 0, "FRAG_memory": 0}
    assert procfs.parse_pressure("some avg10=0.29 total=7469738\nfull avg10=0.25 total=5823138\n") == \
        {"some": 7469738 / 1000.0 / 1000.0, "full": 5.823138}
    assert procfs.parse_file_nr("1149\t0\t2466252\n") == (1149, 2466252)
    assert procfs.parse_arp("IP address HW type Flags HW address Mask Device\n"
                            "10.0.0.1 0x1 0x2 aa:bb:cc:dd:ee:ff * eth0\n"
                            "10.0.0.9 0x1 0x2 aa:bb:cc:dd:ee:01 * eth0\n") == {"eth0": 2}
    assert procfs.parse_stat_counters("cpu 1 2 3 4\nintr 9 1 2\nctxt 77\nprocesses 5\n"
                                      "procs_running 2\nprocs_blocked x\n") == \
        {"intr": 9, "ctxt": 77, "forks": 5, "procs_running": 2}


def test_diskstats_kernel_generations():
    text = ("   8  0 sda 1 2 3 4 5 6 7 8 9 10 11\n"                       # 4.x: 11 counters
            " 179  0 mmcblk0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17\n"   # 5.5+: 17
            "   7  0 loop0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0\n"             # never shown
            "   8  1 sda1 1 x 3 4 5 6 7 8 9 10 11\n")                       # garbage
    disks = procfs.parse_diskstats(text)
    assert [(d.device, len(d.counters)) for d in disks] == [("sda", 11), ("mmcblk0", 17)]
    assert disks[1].read_bytes == 3 * 512 and disks[1].written_bytes == 7 * 512


def test_whole_disks_drop_partitions():
    disks = tuple(DiskStats(n, 0, 0, (0,) * 11) for n in
                  ("mmcblk0", "mmcblk0p1", "mmcblk0boot0", "nvme0n1", "nvme0n1p2", "sda", "sda1", "vda"))
    assert [d.device for d in whole_disks(disks)] == ["mmcblk0", "nvme0n1", "sda", "vda"]


def test_os_release_quoting():
    text = 'NAME="Raspbian GNU/Linux"\nVERSION_ID="11"\nPRETTY_NAME=\'It\\\'s "x"\'\nbad line\nid=no\n'
    assert procfs.parse_os_release(text) == {"NAME": "Raspbian GNU/Linux", "VERSION_ID": "11",
                                             "PRETTY_NAME": "It\\'s \"x\""}


def test_process_stat_and_limits():
    stat = "4242 (ba sh) S 1 4242 4242 0 -1 4194560 900 0 0 0 30 12 5 3 20 0 1 0 5000 8900608 940 0\n"
    assert procfs.parse_process_stat(stat) == {"cpu_ticks": 50, "start_ticks": 5000,
                                               "vsize": 8900608, "rss_pages": 940}
    limits = procfs.parse_limits(
        "Limit                     Soft Limit           Hard Limit           Units     \n"
        "Max open files            1024                 524288               files     \n"
        "Max address space         unlimited            unlimited            bytes     \n")
    assert limits == {"Max open files": 1024.0, "Max address space": 2.0 ** 64 - 1}


def test_command_outputs():
    assert cmdout.parse_uname("aarch64\n16384\n") == ("aarch64", 16384)
    assert cmdout.parse_uname("") == (None, None)
    fs = cmdout.parse_filesystems(
        "/dev/root / ext4 ro,noatime\n/dev/root / ext4 ro,noatime\n"
        "//nas/share /mnt/my\\040nas cifs rw\n--\n10 5 4 4096 100 90 /\n")
    assert [(f.mountpoint, f.readonly, f.size) for f in fs] == [("/", True, 40960.0),
                                                               ("/mnt/my nas", False, None)]
    assert fs[0].used_pct == pytest.approx(100 * 5 / 9)
    assert cmdout.parse_filesystems("no separator") == ()
    zone = cmdout.parse_zone("-0330 NST\n5 0 0")
    assert zone == ("NST", -(3 * 3600 + 30 * 60))
    t = cmdout.parse_timex("+0000 UTC\n" + " ".join(["5"] + ["1"] * 21))
    assert t["return"] == 5 and t["tai"] == 1
    assert cmdout.parse_timex("1 2 3") is None


def test_hwmon_names_follow_node_exporter():
    assert hwmon_metric("in", "input", False)[:3] == ("node_hwmon_in_volts", "Hardware monitor for voltage (input)",
                                                      0.001)
    assert hwmon_metric("curr", "crit_alarm", False)[0] == "node_hwmon_curr_crit_alarm_amps"
    assert hwmon_metric("power", "input", False)[0] == "node_hwmon_power_watt"
    assert hwmon_metric("power", "average", False)[0] == "node_hwmon_power_average_watt"
    assert hwmon_metric("temp", "alarm", False)[:2] == ("node_hwmon_temp_alarm", "Hardware sensor alarm status (temp)")
    assert hwmon_metric("fan", "min", False)[0] == "node_hwmon_fan_min_rpm"
    assert hwmon_metric("temp", "max_hyst", False)[0] == "node_hwmon_temp_max_hyst_celsius"
    assert scaled(84850, 0.001) == 84850 * 0.001 and scaled(6025000, 1e6) == 6025000 / 1000000.0


def test_hwmon_readings_skip_what_hwmonsensor_has():
    files = {"temp1_input": "50000", "temp1_crit": "90000", "fan1_input": "1200", "fan1_min": "300",
             "in1_input": "5096", "in1_label": "vbus\n", "curr1_input": "x", "pwm1": "128",
             "update_interval": "2", "name": "ina226"}
    got = {(r.sensor, r.element): (r.value, r.label) for r in sysfs.hwmon_readings("c", "ina226", files)}
    assert got == {("temp1", "crit"): (90000.0, None), ("fan1", "min"): (300.0, None),
                   ("in1", "input"): (5096.0, "vbus"), ("update_interval0", ""): (2.0, None)}


def reading(kind, sensor, element, value, chip="c") -> HwmonReading:
    return HwmonReading(chip, "x", sensor, kind, element, value)


def test_power_draw_prefers_power_then_channels_then_supplies():
    assert power_draw(Sample("n", 0, hwmon_readings=(reading("power", "power1", "input", 4_000_000),
                                                     reading("power", "power2", "input", 1_500_000)))) == 5.5
    assert power_draw(Sample("n", 0, hwmon_readings=(reading("power", "power1", "average", 2_000_000),))) == 2.0
    channels = (reading("in", "in1", "input", 5000), reading("curr", "curr1", "input", 1000),
                reading("in", "in2", "input", 12000), reading("curr", "curr2", "input", 500),
                reading("curr", "curr3", "input", 999))     # no bus voltage for channel 3: skipped
    assert power_draw(Sample("n", 0, hwmon_readings=channels)) == pytest.approx(11.0)
    supply = PowerSupply("poe", {"voltage_now": "5000000", "current_now": "1200000"})
    assert power_draw(Sample("n", 0, power_supplies=(supply,))) == pytest.approx(6.0)
    assert power_draw(Sample("n", 0)) is None


@pytest.mark.parametrize("life,eol,level", [((1, 1), 1, "ok"), ((9, 3), 1, "ok"), ((10, 2), 1, "warn"),
                                            ((2, 2), 2, "warn"), ((11, 1), 1, "crit"), ((1, 1), 3, "crit")])
def test_emmc_wear_levels(life, eol, level):
    assert wear_level(MmcHealth("mmc0:0001", "MMC", life_time=life, pre_eol=eol)) == level


def test_mmc_card_and_io_errors():
    card = sysfs.mmc_card("sys/class/mmc_host/mmc1/mmc1:aaaa", {"type": "SD\n", "name": "SC32G\n"}, None)
    assert card == MmcHealth("mmc1:aaaa", "SD", "SC32G", None, None, None)
    assert sysfs.mmc_card("x/mmc0:1", {"type": "MMC", "life_time": "0x01"}, None).life_time is None
    assert sysfs.io_error_count("0x1a\n") == 26 and sysfs.io_error_count("-1") is None


def test_commands_and_slow_cadence():
    assert {c.key for c in COMMANDS} == {"cmd/uname", "cmd/filesystems", "cmd/timex"}
    assert slow_ticks(1.0) == 30 and slow_ticks(0.5) == 60 and slow_ticks(60) == 1


PARSERS = (procfs.parse_stat_counters, procfs.parse_key_values, procfs.parse_netstat,
           procfs.parse_snmp6, procfs.parse_sockstat, procfs.parse_softnet, procfs.parse_file_nr,
           procfs.parse_arp, procfs.parse_udp_queues, procfs.parse_pressure,
           procfs.parse_conntrack_stat, procfs.parse_diskstats, procfs.parse_schedstat,
           procfs.parse_os_release, procfs.parse_process_stat, procfs.parse_limits,
           cmdout.parse_uname, cmdout.parse_filesystems, cmdout.parse_timex, cmdout.parse_zone,
           sysfs.parse_int_auto, sysfs.io_error_count)
kernelish = st.text(st.sampled_from(list("0123456789abcdefx:- \t\n./_()=\"'\\ATcpUdIoro,")), max_size=300)


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(PARSERS), st.one_of(kernelish, st.text(max_size=200)))
def test_parsers_are_total(parse, text):
    parse(text)   # any text: a value or nothing, never an exception


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["temp", "in", "curr", "power", "fan", "energy", "humidity",
                                           "intrusion", "cpu", "pwm", "foo"]),
                          st.integers(0, 12),
                          st.sampled_from(["input", "max", "crit_alarm", "label", "", "min", "average"]),
                          st.text(max_size=12)), max_size=20))
def test_hwmon_readings_total_and_named(entries):
    files = {f"{k}{n}_{e}" if e else f"{k}{n}": v for k, n, e, v in entries}
    for r in sysfs.hwmon_readings("c", "chip", files):
        name, help_, scale, kind = hwmon_metric(r.type, r.element, False)
        assert name.startswith("node_hwmon_") and help_ and kind in ("gauge", "counter")


@given(st.lists(st.lists(st.one_of(st.integers(0, 2**32 - 1).map(lambda n: f"{n:08x}"),
                                   st.sampled_from(["zz", "0x1", "-1", "1_0", "", "ff"])),
                         min_size=1, max_size=14),
                max_size=5),
       st.sampled_from([" ", "  ", "\t", " \x0b"]))
def test_softnet_takes_exactly_the_all_hex_lines(rows, gap):
    """One pattern a line decides, as a hex check of every column did: the same rows kept."""
    text = "\n".join(gap.join(cols) for cols in rows)
    kept = [cols for cols in (line.split() for line in text.splitlines())
            if len(cols) >= 3 and all(c and all(ch in "0123456789abcdefABCDEF" for ch in c)
                                      for c in cols)]
    got = procfs.parse_softnet(text)
    assert [row["processed"] for row in got] == [int(cols[0], 16) for cols in kept]

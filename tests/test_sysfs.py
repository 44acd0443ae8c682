"""sysfs parsers: node_exporter's naming rules, unit conversions, round trips, total on garbage."""
from __future__ import annotations

from hypothesis import given, settings, strategies as st

from collectors import sysfs
from collectors.model import CoolingDevice, CpuFreq, HwmonSensor, RpiThrottle, ThermalZone

garbage = st.text(max_size=80)
basenames = st.sampled_from(["temp", "type", "cur_state", "max_state", "name", "temp1_input", "temp1_label",
                             "fan1_input", "fan12_label", "pwm1", "pwm1_enable", "temp10_input",
                             "scaling_cur_freq", "scaling_min_freq", "scaling_max_freq", "related_cpus"])


def test_clean_name_is_node_exporters():
    assert sysfs.clean_name("Physical id 0") == "physical_id_0"
    assert sysfs.clean_name("applesmc.768") == "applesmc_768"
    assert sysfs.clean_name("--asus-nb-wmi\n") == "asus_nb_wmi"


def test_chip_label_preferences():
    assert sysfs.hwmon_chip_base("hwmon0", "sys/devices/platform/coretemp.0", "coretemp\n") == "platform_coretemp_0"
    assert sysfs.hwmon_chip_base("hwmon3", None, "nct6779\n") == "nct6779"
    assert sysfs.hwmon_chip_base("hwmon4", None, None) == "hwmon4"
    assert sysfs.hwmon_chip_base("hwmon4", None, "\n") == "hwmon4"
    assert sysfs.hwmon_chip_base("hwmon0", "sys/devices/virtual/thermal/thermal_zone0", "x") == \
        "thermal_thermal_zone0"


def test_chips_sharing_a_device_get_their_name_appended():
    phy = "sys/devices/platform/soc/18000000.wifi/ieee80211/phy0"
    labels = sysfs.hwmon_chip_labels({"hwmon8": (phy, "mt7996_phy0_0\n"), "hwmon9": (phy, "mt7996_phy0_1\n"),
                                      "hwmon0": ("sys/devices/platform/coretemp.0", "coretemp\n")})
    assert labels == {"hwmon8": "ieee80211_phy0_mt7996_phy0_0", "hwmon9": "ieee80211_phy0_mt7996_phy0_1",
                      "hwmon0": "platform_coretemp_0"}


def test_thermal_zone_negative_and_garbage():
    assert sysfs.thermal_zone("sys/class/thermal/thermal_zone3", {"type": "x\n", "temp": "-5250\n"}) == \
        (ThermalZone("3", "x", -5.25), [])
    zone, notes = sysfs.thermal_zone("sys/class/thermal/thermal_zone3", {"type": "x", "temp": "hot"})
    assert zone is None and notes == ["thermal temp not a number: sys/class/thermal/thermal_zone3/temp"]


def test_cooling_device():
    assert sysfs.cooling_device("sys/class/thermal/cooling_device0",
                                {"type": "Processor\n", "cur_state": "0\n", "max_state": "3\n"}) == \
        (CoolingDevice("0", "Processor", 0, 3), [])


def test_hwmon_sensors_units_labels_and_notes():
    files = {"temp1_input": "44375\n", "temp1_label": "SoC\n", "fan2_input": "1098\n", "pwm1": "255\n",
             "pwm1_enable": "2\n", "temp2_input": "N/A\n", "name": "pwmfan\n"}
    sensors, notes = sysfs.hwmon_sensors("sys/class/hwmon/hwmon1", "pwmfan", "pwmfan", files)
    assert sensors == [HwmonSensor("pwmfan", "pwmfan", "fan", "fan2", 1098.0),
                       HwmonSensor("pwmfan", "pwmfan", "pwm", "pwm1", 255.0),
                       HwmonSensor("pwmfan", "pwmfan", "temp", "temp1", 44.375, "SoC")]
    assert notes == ["hwmon value not a number: sys/class/hwmon/hwmon1/temp2_input"]


def test_cpufreq_khz_to_hz_and_cluster():
    freq, notes = sysfs.cpufreq("sys/devices/system/cpu/cpu4/cpufreq",
                                {"scaling_cur_freq": "1800000\n", "scaling_max_freq": "1800000\n",
                                 "related_cpus": "4 5\n"})
    assert freq == CpuFreq("4", 1.8e9, None, 1.8e9, (4, 5)) and notes == []
    assert sysfs.clusters([freq, CpuFreq("0", 1e9, related_cpus=(0, 1, 2, 3))]) == ((0, 1, 2, 3), (4, 5))


def test_cpu_list_forms():
    assert sysfs.parse_cpu_list("0-3\n") == (0, 1, 2, 3)
    assert sysfs.parse_cpu_list("0 1 2 3") == (0, 1, 2, 3)
    assert sysfs.parse_cpu_list("0-1,4-5") == (0, 1, 4, 5)
    for bad in ("", "3-1", "a", "1-", "-1", "0-99999999"):
        assert sysfs.parse_cpu_list(bad) is None


@given(st.sets(st.integers(0, 511), min_size=1), st.sampled_from([" ", ","]), st.booleans())
def test_cpu_list_round_trip(cpus, sep, as_ranges):
    ordered = sorted(cpus)
    if as_ranges:
        runs, start = [], ordered[0]
        for a, b in zip(ordered, ordered[1:] + [None]):
            if b != a + 1:
                runs.append(f"{start}-{a}" if a != start else str(a))
                start = b
        text = sep.join(runs)
    else:
        text = sep.join(map(str, ordered))
    assert sysfs.parse_cpu_list(text + "\n") == tuple(ordered)


def test_throttled_hex():
    t = sysfs.parse_throttled("50005\n")
    assert t == RpiThrottle(0x50005) and t.under_voltage_now and t.throttled_now and not t.freq_capped_now
    assert sysfs.parse_throttled("0x0") == RpiThrottle(0)
    for bad in ("", "0x", "zz", "5_0", "-1", "throttled=0x0"):
        assert sysfs.parse_throttled(bad) is None


@given(st.integers(0, 2 ** 32 - 1), st.booleans(), st.booleans())
def test_throttled_round_trip(raw, prefix, upper):
    text = f"{'0x' if prefix else ''}{raw:X}" if upper else f"{'0x' if prefix else ''}{raw:x}"
    assert sysfs.parse_throttled(text + "\n").raw == raw


@settings(max_examples=300)
@given(st.dictionaries(basenames, garbage), garbage)
def test_assemblers_are_total_on_garbage(files, text):
    for where, fn in (("sys/class/thermal/thermal_zone0", sysfs.thermal_zone),
                      ("sys/class/thermal/cooling_device0", sysfs.cooling_device),
                      ("sys/devices/system/cpu/cpu0/cpufreq", sysfs.cpufreq)):
        value, notes = fn(where, files)
        assert all(isinstance(n, str) and where in n for n in notes)
    sensors, notes = sysfs.hwmon_sensors("sys/class/hwmon/hwmon0", "c", "c", files)
    assert all(isinstance(s, HwmonSensor) for s in sensors)
    sysfs.parse_throttled(text), sysfs.parse_cpu_list(text), sysfs.parse_millidegrees(text)
    sysfs.hwmon_chip_labels({"hwmon0": (text or None, text), "hwmon1": (text or None, None)})


@given(st.integers(-273_150, 2_000_000))
def test_millidegrees_round_trip(milli):
    assert sysfs.parse_millidegrees(f"{milli}\n") == milli / 1000

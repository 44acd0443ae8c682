"""Prometheus exposition: names, fleet labels, hostile strings, roost_* series, the HTTP endpoint."""
from __future__ import annotations

import urllib.request
from types import MappingProxyType

from hypothesis import given, settings, strategies as st
from prometheus_client.parser import text_string_to_metric_families

from collectors.model import (
    CoolingDevice,
    CpuFreq,
    CpuTimes,
    HwmonSensor,
    LoadAvg,
    Memory,
    NetCounters,
    RpiThrottle,
    Sample,
    ThermalZone,
)
from collectors.sinks.prom_http import Exposition, serve
from collectors.sinks.prometheus import memory_metric_name, render_text


def series(text: str) -> dict:
    return {(s.name, frozenset(s.labels.items())): s.value
            for fam in text_string_to_metric_families(text) for s in fam.samples}


def sample(node: str = "n1", ts: float = 100.0, **kw) -> Sample:
    base = dict(
        cpus=(CpuTimes("0", 1.5, 0, 2, 30, 0.5, 0, 0.25, 0, 0.1, 0),),
        load=LoadAvg(0.5, 0.25, 0.125), boot_time=1.7e9,
        memory=Memory(MappingProxyType({"MemTotal": 4096.0, "Active(anon)": 1024.0, "HugePages_Free": 3.0})),
        net=(NetCounters("eth0", 1, 2, 3, 4, 5, 6, 7, 8),),
        thermal=(ThermalZone("0", "cpu-thermal", -1.5),),
        cooling=(CoolingDevice("0", "pwm-fan", 2, 4),),
        hwmon=(HwmonSensor("pwmfan", "pwmfan", "pwm", "pwm1", 100.0),
               HwmonSensor("platform_coretemp_0", "coretemp", "temp", "temp1", 55.0, "Core 0"),
               HwmonSensor("pwmfan", "pwmfan", "fan", "fan1", 1200.0)),
        cpufreq=(CpuFreq("0", 1.5e9, 6e8, 1.8e9, (0,)),),
        throttle=RpiThrottle(0x50005))
    base.update(kw)
    return Sample(node=node, ts=ts, **base)


def test_names_and_values():
    got = series(render_text([sample()], now=101.5))
    want = {
        ("node_cpu_seconds_total", frozenset({("cpu", "0"), ("mode", "softirq")})): 0.25,
        ("node_load15", frozenset()): 0.125,
        ("node_memory_MemTotal_bytes", frozenset()): 4096.0,
        ("node_memory_Active_anon_bytes", frozenset()): 1024.0,
        ("node_memory_HugePages_Free", frozenset()): 3.0,
        ("node_network_transmit_drop_total", frozenset({("device", "eth0")})): 8,
        ("node_thermal_zone_temp", frozenset({("type", "cpu-thermal"), ("zone", "0")})): -1.5,
        ("node_cooling_device_max_state", frozenset({("name", "0"), ("type", "pwm-fan")})): 4,
        ("node_hwmon_pwm", frozenset({("chip", "pwmfan"), ("sensor", "pwm1")})): 100,
        ("node_hwmon_fan_rpm", frozenset({("chip", "pwmfan"), ("sensor", "fan1")})): 1200,
        ("node_hwmon_temp_celsius", frozenset({("chip", "platform_coretemp_0"), ("sensor", "temp1")})): 55,
        ("node_hwmon_sensor_label", frozenset({("chip", "platform_coretemp_0"), ("label", "Core 0"),
                                               ("sensor", "temp1")})): 1,
        ("node_hwmon_chip_names", frozenset({("chip", "pwmfan"), ("chip_name", "pwmfan")})): 1,
        ("node_cpu_scaling_frequency_min_hertz", frozenset({("cpu", "0")})): 6e8,
        ("node_boot_time_seconds", frozenset()): 1.7e9,
        ("roost_sample_age_seconds", frozenset({("node", "n1")})): 1.5,
        ("roost_rpi_undervoltage", frozenset()): 1, ("roost_rpi_throttled", frozenset()): 1,
        ("roost_rpi_freq_capped", frozenset()): 0, ("roost_rpi_soft_temp_limit", frozenset()): 0,
        ("roost_rpi_undervoltage_occurred", frozenset()): 1, ("roost_rpi_freq_capped_occurred", frozenset()): 0,
        ("roost_rpi_get_throttled", frozenset()): 0x50005,
    }
    for key, value in want.items():
        assert got.get(key) == value, key


def test_guest_time_is_not_in_cpu_seconds():
    got = series(render_text([sample()]))
    assert {dict(k[1])["mode"] for k in got if k[0] == "node_cpu_seconds_total"} == \
        {"user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal"}
    assert got[("node_cpu_guest_seconds_total", frozenset({("cpu", "0"), ("mode", "user")}))] == 0.1


def test_fleet_labels_every_series_and_up():
    text = render_text([sample("n1"), sample("n2", throttle=None)], fleet=True,
                       up={"n1": True, "n2": True, "n3": False}, now=100.0)
    got = series(text)
    assert all(dict(labels).get("node") in {"n1", "n2", "n3"} for _, labels in got)
    assert got[("roost_node_up", frozenset({("node", "n3")}))] == 0
    assert got[("node_load1", frozenset({("node", "n2")}))] == 0.5
    assert ("roost_rpi_undervoltage", frozenset({("node", "n2")})) not in got


def test_memory_metric_names():
    assert memory_metric_name("Active(file)") == "node_memory_Active_file_bytes"
    assert memory_metric_name("HugePages_Total") == "node_memory_HugePages_Total"
    assert memory_metric_name("bad-name") is None and memory_metric_name("9lives") == "node_memory_9lives_bytes"


def test_duplicate_series_are_dropped():
    h = HwmonSensor("c", "c", "temp", "temp1", 1.0)
    text = render_text([sample(hwmon=(h, h))])
    assert text.count('node_hwmon_temp_celsius{chip="c",sensor="temp1"}') == 1


@settings(max_examples=100, deadline=None)
@given(st.text(max_size=40), st.text(max_size=40), st.text(max_size=40))
def test_hostile_strings_round_trip(node, label, kind):
    s = sample(node, thermal=(ThermalZone("0", kind, 1.0),),
               hwmon=(HwmonSensor("c", "c", "temp", "temp1", 2.0, label or None),),
               memory=Memory(MappingProxyType({kind or "x": 1.0})))
    got = series(render_text([s], fleet=True, up={node: True}, now=100.0))
    assert got[("node_thermal_zone_temp", frozenset({("type", kind), ("zone", "0"), ("node", node)}))] == 1.0
    if label:
        assert ("node_hwmon_sensor_label",
                frozenset({("chip", "c"), ("label", label), ("sensor", "temp1"), ("node", node)})) in got


def test_http_endpoint_serves_the_fleet_and_each_node():
    latest = {"n1": sample("n1")}
    exposition = Exposition(lambda: (dict(latest), {"n1": True, "n2": False}))
    server, thread = serve(exposition, host="127.0.0.1", port=0)
    try:
        base = f"http://127.0.0.1:{server.server_port}"
        got = series(urllib.request.urlopen(f"{base}/metrics", timeout=5).read().decode())
        assert got[("roost_node_up", frozenset({("node", "n2")}))] == 0
        assert not any(name == "node_load5" for name, _ in got)  # node series live per node
        node = series(urllib.request.urlopen(f"{base}/nodes/n1/metrics", timeout=5).read().decode())
        assert node[("node_load5", frozenset())] == 0.25
        latest["n1"] = sample("n1", load=LoadAvg(3.0, 2.0, 1.0))  # each scrape asks the source again
        node = series(urllib.request.urlopen(f"{base}/nodes/n1/metrics", timeout=5).read().decode())
        assert node[("node_load5", frozenset())] == 2.0
    finally:
        server.shutdown()
        server.server_close()

"""roost's per-node targets carry node_exporter's values on the same host.

The lab's roost nodes are sshd sessions on this machine (same kernel, /proc and /sys), so every
series both expose must agree with the real node_exporter running beside them, within sampling
noise, and have node_exporter's HELP and TYPE. Noise is bounded, not guessed:
- counters: node_exporter is scraped at t0, roost's target once its sample was read after t0
  (its node_time_seconds says when), node_exporter again at t1 after that: a counter from
  roost must lie between node_exporter's two readings (sandwiched in time);
- things that do not move (sizes, limits, identities) must be equal;
- gauges that move (free memory, dirty pages, sockets in use, load) must lie within the two
  readings widened by 5%, or by 64 MiB for a byte count and 5 for a small count (this test's
  own HTTP connections open sockets; the tests beside it write pages), and the run queue's
  counts by the load average besides (they are a moment's reading);
- slow-cadence series (read every 30 s: statfs, interface properties, adjtimex) are gauges here.
"""
from __future__ import annotations

import os
import time
import urllib.request

import pytest
from prometheus_client.parser import text_string_to_metric_families

EXACT = ("node_memory_MemTotal_bytes", "node_memory_SwapTotal_bytes", "node_boot_time_seconds",
         "node_filesystem_size_bytes", "node_filesystem_files", "node_filesystem_readonly",
         "node_filesystem_device_error", "node_filefd_maximum", "node_entropy_pool_size_bits",
         "node_network_mtu_bytes", "node_network_flags", "node_network_iface_id",
         "node_network_info", "node_network_speed_bytes", "node_network_address_assign_type",
         "node_network_protocol_type", "node_network_up", "node_disk_info", "node_os_info",
         "node_os_version", "node_nf_conntrack_entries_limit", "node_timex_tick_seconds",
         "node_timex_status", "node_time_clocksource_available_info",
         "node_time_clocksource_current_info", "node_time_zone_offset_seconds",
         "node_memory_Hugepagesize_bytes", "node_cpu_guest_seconds_total")
SLOW = ("node_filesystem_", "node_network_carrier", "node_network_receive_nohandler",
        "node_timex_", "node_nf_conntrack_entries_limit")
NOT_COMPARABLE = ("node_scrape_collector_", "process_", "node_time_seconds", "node_uname_info",
                  "node_exporter_")   # per exporter / per process / per UTS namespace
RUN_QUEUE = ("node_procs_running", "node_procs_blocked")   # at load 30: 27 then 40 a moment later


def scrape(url: str) -> tuple[dict, dict]:
    """({(name, labels): value}, {family: (type, help)})."""
    with urllib.request.urlopen(url, timeout=10) as r:
        text = r.read().decode()
    values, meta = {}, {}
    for fam in text_string_to_metric_families(text):
        meta[fam.name] = (fam.type, fam.documentation)
        for s in fam.samples:
            values[(s.name, frozenset(s.labels.items()))] = s.value
    return values, meta


def sandwich(prom_lab, instance: str):
    """node_exporter at t0, roost read after t0, node_exporter at t1."""
    ne = f"http://{prom_lab.ne_instance}/metrics"
    node = f"http://127.0.0.1:{prom_lab.roost_port}/nodes/{instance}/metrics"
    for _ in range(20):
        t0 = time.time()
        before, meta = scrape(ne)
        time.sleep(1.2)                       # a sampler tick (1 s) later
        ours, our_meta = scrape(node)
        after, _ = scrape(ne)
        read_at = ours[("node_time_seconds", frozenset())]
        if t0 <= read_at <= time.time():
            return before, ours, after, meta, our_meta
    raise AssertionError("roost never served a sample read between two node_exporter scrapes")


def family(name: str) -> str:
    for suffix in ("_total", "_bucket", "_count", "_sum"):
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return name


def verdict(name: str, kind: str, a: float, r: float, b: float) -> bool:
    lo, hi = min(a, b), max(a, b)
    if name.startswith(EXACT) and not name.startswith(SLOW):
        return r in (a, b)
    if kind == "counter" and not name.startswith(SLOW):
        return lo <= r <= hi
    slack = max(0.05 * max(abs(lo), abs(hi)), 64 * 2**20 if name.endswith("_bytes") else 5.0)
    if name.startswith(RUN_QUEUE):     # a moment's count: it swings by about the load average
        slack += os.getloadavg()[0]
    if name.startswith("node_sockstat_") and name.endswith("_mem"):   # pages: as bytes above
        slack = max(slack, 64 * 2**20 / 4096)
    return lo - slack <= r <= hi + slack


@pytest.mark.peers
def test_values_agree_with_node_exporter_on_the_same_host(prom_lab):
    prom_lab.wait_for_data(3)
    before, ours, after, meta, _ = sandwich(prom_lab, prom_lab.roost_instances[0])
    common = [k for k in ours if k in before and k in after and not k[0].startswith(NOT_COMPARABLE)]
    names = {k[0] for k in common}
    assert len(common) >= 300 and len(names) >= 150, (len(common), sorted(names))
    wrong = []
    for key in common:
        name = key[0]
        kind = meta.get(family(name), meta.get(name, ("gauge", "")))[0]
        if not verdict(name, kind, before[key], ours[key], after[key]):
            wrong.append(f"{name}{dict(key[1])}: node_exporter {before[key]}..{after[key]}, roost {ours[key]}")
    assert not wrong, "\n".join(wrong)


@pytest.mark.peers
def test_help_and_type_are_node_exporters(prom_lab):
    _, _, _, meta, ours = sandwich(prom_lab, prom_lab.roost_instances[1])
    shared = sorted(set(meta) & set(ours))
    assert len(shared) >= 150
    differ = [f"{n}: node_exporter {meta[n]} roost {ours[n]}" for n in shared if meta[n] != ours[n]]
    assert not differ, "\n".join(differ)


@pytest.mark.peers
def test_uname_names_the_node_and_the_kernel_is_this_hosts(prom_lab):
    import os
    theirs, ours = (scrape(f"http://{prom_lab.ne_instance}/metrics")[0],
                    scrape(f"http://127.0.0.1:{prom_lab.roost_port}/nodes/n1/metrics")[0])
    (ne,) = [dict(k[1]) for k in theirs if k[0] == "node_uname_info"]
    (mine,) = [dict(k[1]) for k in ours if k[0] == "node_uname_info"]
    assert mine["nodename"] == "roost-lab-n1" and ne["nodename"] == os.uname().nodename
    assert {k: v for k, v in mine.items() if k != "nodename"} == \
        {k: v for k, v in ne.items() if k != "nodename"}


@pytest.mark.parametrize("name,kind,a,r,b,ok", [
    ("node_netstat_Tcp_InSegs", "counter", 100, 105, 110, True),
    ("node_network_receive_bytes_total", "counter", 100, 99, 110, False),   # went back in time
    ("node_network_receive_bytes_total", "counter", 100, 111, 110, False),  # from the future
    ("node_memory_MemTotal_bytes", "gauge", 4e9, 4e9, 4e9, True),
    ("node_memory_MemTotal_bytes", "gauge", 4e9, 4e9 - 4096, 4e9, False),   # a size is exact
    ("node_memory_MemFree_bytes", "gauge", 1e9, 1.04e9, 1e9, True),
    ("node_memory_MemFree_bytes", "gauge", 1e9, 2e9, 1e9, False),
    ("node_filesystem_free_bytes", "gauge", 1e11, 1.01e11, 1e11, True),     # slow: 30 s old
])
def test_the_noise_bounds_reject_wrong_values(name, kind, a, r, b, ok):
    assert verdict(name, kind, a, r, b) is ok

"""Where a profile's files live: the sampler's keys, the static contents, and the real sysfs layout.

Built once per (profile, node) and shared by every frame. Keys are exactly what the sampler's
globs (collectors.fileset) expand to on a real board: "sys/class/hwmon/hwmon1/pwm1", not the
resolved device path. `dirs` maps each class/per-cpu symlink to the real directory behind it so
console.demo.tree can write an on-disk tree that the local reader walks the same way.
"""
from __future__ import annotations

import zlib
from dataclasses import dataclass, field

from console.demo.boards import Profile

# Dynamic value sources, resolved by console.demo.sim every frame.
ZONE, DIE, FAN, CPUFREQ, CONST = "zone", "die", "fan", "cpufreq", "const"


@dataclass(slots=True)
class Layout:
    profile: Profile
    static: dict[str, str] = field(default_factory=dict)
    links: dict[str, str] = field(default_factory=dict)
    dirs: dict[str, str] = field(default_factory=dict)          # symlink path -> real dir
    zone_temps: list[tuple[str, int]] = field(default_factory=list)
    hwmon_temps: list[tuple[str, str, float]] = field(default_factory=list)  # key, ZONE/DIE, arg
    cooling: list[tuple[str, str, int]] = field(default_factory=list)        # key, kind, arg
    fan_pwm: str | None = None
    fan_rpm: str | None = None
    freqs: list[tuple[int, int]] = field(default_factory=list)  # cpu, cluster index
    throttled: str | None = None
    extra_files: dict[str, str] = field(default_factory=dict)   # present on disk, not read
    volt_alarm: str | None = None      # the Pi's under-voltage alarm (rpi_volt in0_lcrit_alarm)
    ina: str | None = None             # the INA226's hwmon dir, when the board has one

    @property
    def hwmon_count(self) -> int:
        return sum(1 for d in self.dirs if d.startswith("sys/class/hwmon/"))


def build_layout(profile: Profile, hostname: str) -> Layout:
    lay = Layout(profile)
    _facts(lay, profile, hostname)
    _thermal(lay, profile)
    _hwmon(lay, profile)
    _cpufreq(lay, profile)
    _devices(lay, profile)
    if profile.rpi:
        lay.throttled = "sys/devices/platform/soc/soc:firmware/get_throttled"
    return lay


def _devices(lay: Layout, p: Profile) -> None:
    """Class symlinks of the board's disks, NICs and supplies, as the kernel lays them out."""
    for i, nic in enumerate(p.nics):
        lay.dirs[f"sys/class/net/{nic.name}"] = f"sys/devices/platform/soc/net{i}/net/{nic.name}"
    st = p.storage
    if st is not None and st.kind in ("emmc", "sd"):
        host = "sys/devices/platform/emmc2bus/fe340000.mmc/mmc_host/mmc0"
        lay.dirs["sys/class/mmc_host/mmc0"] = host
        lay.links["sys/class/block/mmcblk0"] = f"{host}/mmc0:0001/block/mmcblk0"
        if st.kind == "sd":
            lay.static["sys/class/mmc_host/mmc0/mmc0:0001/type"] = "SD\n"
    if st is not None and st.kind == "nvme":
        lay.dirs["sys/class/nvme/nvme0"] = \
            "sys/devices/platform/axi/1000110000.pcie/pci0001:00/0001:00:00.0/0001:01:00.0/nvme/nvme0"
    if p.poe:
        lay.dirs["sys/class/power_supply/rpi-poe"] = \
            "sys/devices/platform/rpi-poe-power-supply@0/power_supply/rpi-poe"
    if p.power_monitor:
        lay.ina = _add_chip(lay, p.power_monitor, "sys/devices/platform/soc/fe804000.i2c/i2c-1/1-0040",
                            in_device=False)


def _facts(lay: Layout, p: Profile, hostname: str) -> None:
    lay.static["proc/sys/kernel/hostname"] = hostname + "\n"
    lay.static["proc/sys/kernel/osrelease"] = p.kernel + "\n"
    lay.static["proc/cpuinfo"] = cpuinfo(p, hostname)
    if p.model:
        # The device-tree property is NUL-terminated, not newline-terminated.
        lay.static["sys/firmware/devicetree/base/model"] = p.model + "\0"
    if p.product:
        lay.static["sys/class/dmi/id/product_name"] = p.product + "\n"
        lay.dirs["sys/class/dmi/id"] = "sys/devices/virtual/dmi/id"


def _thermal(lay: Layout, p: Profile) -> None:
    for i, zone in enumerate(p.zones):
        base = f"sys/class/thermal/thermal_zone{i}"
        lay.dirs[base] = f"sys/devices/virtual/thermal/thermal_zone{i}"
        lay.static[f"{base}/type"] = zone.type + "\n"
        lay.zone_temps.append((f"{base}/temp", i))
        lay.extra_files[f"{base}/policy"] = "step_wise\n"
    for kind, arg, ctype, states in _cooling_devices(p):
        n = len(lay.cooling)
        base = f"sys/class/thermal/cooling_device{n}"
        lay.dirs[base] = f"sys/devices/virtual/thermal/cooling_device{n}"
        lay.static[f"{base}/type"] = ctype + "\n"
        lay.static[f"{base}/max_state"] = f"{states}\n"
        lay.cooling.append((f"{base}/cur_state", kind, arg))


def _cooling_devices(p: Profile) -> list[tuple[str, int, str, int]]:
    out = [(CPUFREQ, i, c.cooling, len(c.opps_khz) - 1)
           for i, c in enumerate(p.clusters) if c.cooling]
    if p.product:  # x86 ACPI processor throttling states, idle here
        out += [(CONST, 0, "Processor", 3) for _ in range(p.cores)]
    if p.fan:
        out.append((FAN, 0, "pwm-fan", p.fan.cooling_states))
    return out


def _hwmon(lay: Layout, p: Profile) -> None:
    for i, zone in enumerate(p.zones):
        if zone.hwmon:
            real_zone = f"sys/devices/virtual/thermal/thermal_zone{i}"
            key = _add_chip(lay, zone.hwmon, real_zone, in_device=True)
            lay.hwmon_temps.append((f"{key}/temp1_input", ZONE, i))
    for chip in p.chips:
        key = _add_chip(lay, chip.name, chip.device, in_device=False)
        for j, (label, offset) in enumerate(chip.temps, start=1):
            if label:
                lay.static[f"{key}/temp{j}_label"] = label + "\n"
            lay.hwmon_temps.append((f"{key}/temp{j}_input", DIE, offset))
        if chip.name == "rpi_volt":
            lay.volt_alarm = f"{key}/in0_lcrit_alarm"
    if p.fan:
        key = _add_chip(lay, "pwmfan", p.fan.device, in_device=False)
        lay.fan_pwm = f"{key}/pwm1"
        if p.fan.tach:
            lay.fan_rpm = f"{key}/fan1_input"


def _add_chip(lay: Layout, name: str, device: str, in_device: bool) -> str:
    """Register hwmonN under its device (thermal zones hold theirs directly)."""
    n = lay.hwmon_count
    key = f"sys/class/hwmon/hwmon{n}"
    lay.dirs[key] = f"{device}/hwmon{n}" if in_device else f"{device}/hwmon/hwmon{n}"
    lay.static[f"{key}/name"] = name + "\n"
    lay.links[f"{key}/device"] = device
    return key


def _cpufreq(lay: Layout, p: Profile) -> None:
    for ci, cluster in enumerate(p.clusters):
        related = " ".join(str(c) for c in cluster.cpus) + "\n"
        policy = f"sys/devices/system/cpu/cpufreq/policy{cluster.cpus[0]}"
        for cpu in cluster.cpus:
            base = f"sys/devices/system/cpu/cpu{cpu}/cpufreq"
            lay.dirs[base] = policy
            lay.static[f"{base}/related_cpus"] = related
            lay.static[f"{base}/cpuinfo_min_freq"] = f"{cluster.opps_khz[0]}\n"
            lay.static[f"{base}/cpuinfo_max_freq"] = f"{cluster.opps_khz[-1]}\n"
            lay.freqs.append((cpu, ci))


def freq_keys(cpu: int) -> tuple[str, str, str]:
    base = f"sys/devices/system/cpu/cpu{cpu}/cpufreq"
    return f"{base}/scaling_cur_freq", f"{base}/scaling_min_freq", f"{base}/scaling_max_freq"


def cpuinfo(p: Profile, hostname: str) -> str:
    serial = f"{zlib.crc32(hostname.encode()):08x}"
    if p.product:
        return "".join(_x86_core(p, i) for i in range(p.cores))
    blocks = [_arm_core(p, cpu, part) for c, part in zip(p.clusters, p.parts or ("0xd03",) * 9)
              for cpu in c.cpus]
    tail = ""
    if p.rpi:
        hw = "Hardware\t: BCM2835\n" if p.arm32 else ""
        tail = f"{hw}Revision\t: c03115\nSerial\t\t: 10000000{serial}\nModel\t\t: {p.model}\n"
    return "".join(blocks) + tail


def _arm_core(p: Profile, cpu: int, part: str) -> str:
    if p.arm32:
        head = (f"processor\t: {cpu}\nmodel name\t: ARMv7 Processor rev 4 (v7l)\n"
                "BogoMIPS\t: 38.40\nFeatures\t: half thumb fastmult vfp edsp neon vfpv3 tls "
                "vfpv4 idiva idivt vfpd32 lpae evtstrm crc32\n")
        arch = "7"
    else:
        head = (f"processor\t: {cpu}\nBogoMIPS\t: 108.00\n"
                "Features\t: fp asimd evtstrm crc32 cpuid\n")
        arch = "8"
    return (f"{head}CPU implementer\t: 0x41\nCPU architecture: {arch}\nCPU variant\t: 0x0\n"
            f"CPU part\t: {part}\nCPU revision\t: 3\n\n")


def _x86_core(p: Profile, cpu: int) -> str:
    return (f"processor\t: {cpu}\nvendor_id\t: GenuineIntel\ncpu family\t: 6\nmodel\t\t: 190\n"
            f"model name\t: {p.cpu_name}\nstepping\t: 0\ncpu MHz\t\t: 800.000\n"
            f"cache size\t: 6144 KB\nphysical id\t: 0\nsiblings\t: {p.cores}\n"
            f"core id\t\t: {cpu}\ncpu cores\t: {p.cores}\nflags\t\t: fpu vme de pse tsc msr "
            "pae mce cx8 apic sep mtrr pge mca cmov pat pse36 clflush mmx fxsr sse sse2 ht "
            "syscall nx lm constant_tsc rep_good nopl xtopology aes avx2\n"
            "bogomips\t: 1612.80\n\n")

"""Board profiles as data: what a real board's kernel exposes, and how it behaves thermally.

Shapes follow the real boards (device-tree models, cpufreq OPP tables, thermal zone and hwmon
names, where the fan sits in sysfs, interface names). console.demo.layout turns a profile into the
exact files and paths the sampler reads; console.demo.sim moves the numbers.
"""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Cluster:
    """One cpufreq policy: its cores share a clock. weight = relative heat per busy core."""
    cpus: tuple[int, ...]
    opps_khz: tuple[int, ...]          # ascending operating points
    weight: float = 1.0
    cooling: str | None = None         # cpufreq cooling device type, if the kernel registers one


@dataclass(frozen=True, slots=True)
class Zone:
    """A thermal zone: temp = die temp + offset + gain * (this zone's cluster load)."""
    type: str
    offset: float = 0.0
    gain: float = 0.0
    cluster: int | None = None
    hwmon: str | None = None           # name of the hwmon chip the kernel adds for this zone


@dataclass(frozen=True, slots=True)
class Chip:
    """An extra hwmon chip. temps: (label or None, offset from the die temp)."""
    name: str
    device: str                        # root-relative device dir the hwmon sits under
    temps: tuple[tuple[str | None, float], ...] = ()


@dataclass(frozen=True, slots=True)
class Fan:
    """A pwm-fan: pwm follows the curve (temp C -> pwm); tach adds fan1_input."""
    device: str
    tach: bool
    max_rpm: int = 0
    curve: tuple[tuple[float, int], ...] = ((45.0, 0), (50.0, 100), (60.0, 150), (70.0, 200),
                                            (75.0, 255))
    cooling_states: int = 4
    gain: float = 1.2                  # full speed divides the temperature rise by 1 + gain


@dataclass(frozen=True, slots=True)
class Nic:
    name: str
    rate: float                        # bytes/s at full load (idle is a few percent of it)
    wrap32: bool = False               # 32-bit kernel counters wrap at 2**32


@dataclass(frozen=True, slots=True)
class Storage:
    """The boot disk: kind emmc | sd | nvme | usb. life (type A, type B) and pre_eol are eMMC
    wear codes (JEDEC: 1 = 0-10% of rated life used ... 11 = exceeded; 1 normal, 2 warning)."""
    kind: str
    device: str                        # mmcblk0, nvme0n1, sda
    size_gb: int
    used: float = 0.35                 # fraction of the root filesystem in use at boot
    life: tuple[int, int] = (1, 1)
    pre_eol: int = 1
    readonly_root: bool = False        # the root came back read-only (a failing card)


@dataclass(frozen=True, slots=True)
class Profile:
    name: str
    title: str
    kernel: str
    clusters: tuple[Cluster, ...]
    zones: tuple[Zone, ...]
    mem_kb: int
    nics: tuple[Nic, ...]
    model: str | None = None           # device-tree model (firmware/devicetree/base/model)
    product: str | None = None         # DMI product name (x86)
    cpu_part: str = "0xd03"            # ARM CPU part per cluster is set in cpuinfo()
    cpu_name: str = ""                 # x86 "model name"
    chips: tuple[Chip, ...] = ()
    fan: Fan | None = None
    rpi: bool = False                  # has firmware get_throttled
    ambient_offset: float = 0.0
    rise: float = 40.0                 # C above ambient at full load without a fan
    tau: float = 40.0                  # thermal time constant, seconds
    trip: float = 80.0                 # passive trip: throttling starts here
    temp_step: int = 1                 # sensor resolution in millidegrees
    arm32: bool = False
    parts: tuple[str, ...] = field(default=())  # ARM CPU part per cluster
    storage: Storage | None = None
    power_monitor: str | None = None   # an INA226 on the board's supply
    poe: bool = False                  # a PoE HAT power supply

    @property
    def cores(self) -> int:
        return sum(len(c.cpus) for c in self.clusters)


def _opps(lo: int, hi: int, step: int) -> tuple[int, ...]:
    return tuple(range(lo, hi + 1, step))


RK_LITTLE = (408000, 600000, 816000, 1008000, 1200000, 1416000, 1608000, 1800000)
RK_BIG = RK_LITTLE + (2016000, 2208000, 2256000)
PI_VOLT = Chip("rpi_volt", "sys/devices/platform/soc/soc:firmware/raspberrypi-hwmon")
PI_ZONE = Zone("cpu-thermal", hwmon="cpu_thermal")

RPI4 = Profile(
    name="rpi4", title="Raspberry Pi 4", kernel="6.6.51+rpt-rpi-v8",
    model="Raspberry Pi 4 Model B Rev 1.5",
    clusters=(Cluster((0, 1, 2, 3), _opps(600000, 1800000, 100000)),),
    zones=(PI_ZONE,), chips=(PI_VOLT,), mem_kb=3884376,
    nics=(Nic("eth0", 40e6), Nic("wlan0", 0.0)), rpi=True, parts=("0xd08",),
    rise=52.0, tau=45.0, trip=80.0, temp_step=487, storage=Storage("sd", "mmcblk0", 32))

# A Compute Module 4 whose eMMC has worn out and whose root came back read-only.
CM4 = Profile(
    name="cm4", title="Raspberry Pi CM4 (worn eMMC)", kernel="6.6.51+rpt-rpi-v8",
    model="Raspberry Pi Compute Module 4 Rev 1.1",
    clusters=(Cluster((0, 1, 2, 3), _opps(600000, 1500000, 100000)),),
    zones=(PI_ZONE,), chips=(PI_VOLT,), mem_kb=3884376, nics=(Nic("eth0", 40e6),), rpi=True,
    parts=("0xd08",), rise=50.0, tau=45.0, trip=80.0, temp_step=487,
    storage=Storage("emmc", "mmcblk0", 32, used=0.9, life=(10, 11), pre_eol=2, readonly_root=True))

# The rack controller: a Pi 5 on NVMe with an INA226 on its 5 V input and a PoE+ HAT.
RACK = Profile(
    name="pi5ctl", title="Pi 5 rack controller (INA226, PoE, NVMe)", kernel="6.6.51+rpt-rpi-2712",
    model="Raspberry Pi 5 Model B Rev 1.0",
    clusters=(Cluster((0, 1, 2, 3), _opps(1500000, 2400000, 100000), weight=1.3),),
    zones=(PI_ZONE,), chips=(PI_VOLT,), mem_kb=8245264, nics=(Nic("eth0", 60e6),), rpi=True,
    parts=("0xd0b",), rise=55.0, tau=35.0, trip=85.0, temp_step=50,
    storage=Storage("nvme", "nvme0n1", 500, used=0.5), power_monitor="ina226", poe=True)

RPI5 = Profile(
    name="rpi5", title="Raspberry Pi 5", kernel="6.6.51+rpt-rpi-2712",
    model="Raspberry Pi 5 Model B Rev 1.0",
    clusters=(Cluster((0, 1, 2, 3), _opps(1500000, 2400000, 100000), weight=1.3,
                      cooling=None),),
    zones=(PI_ZONE,),
    chips=(Chip("rp1_adc", "sys/devices/platform/axi/1000120000.pcie/1f000c8000.adc",
                ((None, -6.0),)), PI_VOLT),
    fan=Fan("sys/devices/platform/cooling_fan", tach=True, max_rpm=8200,
            curve=((48.0, 0), (50.0, 75), (60.0, 125), (67.5, 175), (75.0, 250)), gain=1.6),
    mem_kb=8245264, nics=(Nic("eth0", 60e6), Nic("wlan0", 0.0)), rpi=True, parts=("0xd0b",),
    rise=55.0, tau=35.0, trip=85.0, temp_step=50)

PIZERO2 = Profile(
    name="pizero2", title="Pi Zero 2 W (Cluster HAT)", kernel="6.6.51+rpt-rpi-v7",
    model="Raspberry Pi Zero 2 W Rev 1.0",
    clusters=(Cluster((0, 1, 2, 3), (600000, 1000000)),),
    zones=(PI_ZONE,), chips=(PI_VOLT,), mem_kb=439360, arm32=True,
    # usb0 is the Cluster HAT's USB gadget link; a 32-bit kernel wraps its counters.
    nics=(Nic("usb0", 4e6, wrap32=True), Nic("wlan0", 0.0, True)),
    rpi=True, parts=("0xd03",), rise=34.0, tau=30.0, trip=80.0, temp_step=537,
    ambient_offset=3.0)

ROCKPRO64 = Profile(
    name="rockpro64", title="Pine64 RockPro64", kernel="6.1.0-26-arm64",
    model="Pine64 RockPro64 v2.1",
    clusters=(Cluster((0, 1, 2, 3), RK_LITTLE[:6], cooling="thermal-cpufreq-0"),
              Cluster((4, 5), RK_LITTLE, weight=2.2, cooling="thermal-cpufreq-1")),
    zones=(Zone("cpu-thermal", gain=3.0, cluster=1, hwmon="cpu_thermal"),
           Zone("gpu-thermal", offset=-3.5, hwmon="gpu_thermal")),
    fan=Fan("sys/devices/platform/pwm-fan", tach=False), mem_kb=3969232,
    nics=(Nic("eth0", 110e6),), parts=("0xd03", "0xd08"), rise=48.0, tau=50.0, trip=70.0,
    temp_step=625)

SOPINE = Profile(
    name="sopine", title="Pine64 SOPINE", kernel="6.1.0-26-arm64",
    model="SoPine with baseboard",
    clusters=(Cluster((0, 1, 2, 3), (648000, 816000, 912000, 960000, 1008000, 1056000,
                                     1104000, 1152000), cooling="cpufreq-cpu0"),),
    zones=(Zone("cpu0-thermal", hwmon="cpu0_thermal"),
           Zone("gpu0-thermal", offset=-2.0, hwmon="gpu0_thermal"),
           Zone("gpu1-thermal", offset=-2.5, hwmon="gpu1_thermal")),
    mem_kb=2012356, nics=(Nic("eth0", 11e6),), parts=("0xd03",), rise=36.0, tau=35.0,
    trip=75.0, ambient_offset=4.0)

RK1 = Profile(
    name="rk1", title="Turing RK1", kernel="6.1.0-1025-rockchip",
    model="Turing Machines RK1",
    clusters=(Cluster((0, 1, 2, 3), RK_LITTLE, cooling="cpufreq-cpu0"),
              Cluster((4, 5), RK_BIG, 2.5, "cpufreq-cpu4"),
              Cluster((6, 7), RK_BIG, 2.5, "cpufreq-cpu6")),
    zones=(Zone("soc-thermal", hwmon="soc_thermal"),
           Zone("bigcore0-thermal", offset=1.0, gain=4.0, cluster=1),
           Zone("bigcore1-thermal", offset=1.0, gain=4.0, cluster=2),
           Zone("littlecore-thermal", gain=1.5, cluster=0),
           Zone("center-thermal", offset=-1.0), Zone("gpu-thermal", offset=-1.0),
           Zone("npu-thermal", offset=-0.5)),
    fan=Fan("sys/devices/platform/pwm-fan", tach=True, max_rpm=5200), mem_kb=32579584,
    nics=(Nic("end0", 115e6),), parts=("0xd05", "0xd0b", "0xd0b"), rise=58.0, tau=60.0,
    trip=85.0, temp_step=923)

X86 = Profile(
    name="x86", title="x86 mini PC", kernel="6.1.0-26-amd64", product="EQ12",
    cpu_name="Intel(R) N100",
    # intel_pstate: one policy per cpu.
    clusters=tuple(Cluster((i,), _opps(700000, 3400000, 100000), 1.5, None) for i in range(4)),
    zones=(Zone("acpitz", offset=-8.0, hwmon="acpitz"), Zone("x86_pkg_temp", gain=2.0)),
    chips=(Chip("coretemp", "sys/devices/platform/coretemp.0",
                (("Package id 0", 1.0), ("Core 0", 0.0), ("Core 1", 0.5), ("Core 2", -0.5),
                 ("Core 3", 0.0))),
           Chip("nvme", "sys/devices/pci0000:00/0000:00:1d.0/0000:01:00.0/nvme/nvme0",
                (("Composite", -10.0),))),
    fan=None, mem_kb=16146124,
    nics=(Nic("enp1s0", 118e6), Nic("wlp2s0", 0.0)), rise=45.0, tau=25.0, trip=95.0,
    temp_step=1000)

PROFILES: dict[str, Profile] = {p.name: p for p in (RPI4, RPI5, PIZERO2, ROCKPRO64, SOPINE, RK1,
                                                     X86, CM4, RACK)}

# A shelf people really build: Pis, a Cluster HAT stack, Pine boards, an RK1 carrier, one PC,
# a CM4 on its last eMMC writes and the rack's controller with its power meter.
MIXED: tuple[str, ...] = ("rpi4", "rpi4", "pizero2", "pizero2", "rpi5", "rockpro64", "sopine",
                          "rk1", "rk1", "x86", "cm4", "pi5ctl")


def profile_for(name: str) -> Profile:
    try:
        return PROFILES[name]
    except KeyError:
        raise ValueError(f"unknown demo profile {name!r}: expected one of "
                         f"{', '.join(sorted(PROFILES))} or mixed") from None


def fleet_profiles(count: int, profile: str) -> list[Profile]:
    """The board of each node: one profile for all, or the mixed shelf repeated."""
    if profile == "mixed":
        return [PROFILES[MIXED[i % len(MIXED)]] for i in range(count)]
    one = profile_for(profile)
    return [one] * count

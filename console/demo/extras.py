"""The rest of a simulated board's kernel files: node_exporter's other collectors, storage and power.

console.demo.sim moves CPU, heat, fans and network; this module adds what the sampler also reads
on a real board, in the kernel's own formats: disks (/proc/diskstats, statfs through the
sampler's cmd/filesystems, eMMC wear), power (INA226 readings, a PoE HAT supply), and the
counters Grafana's node_exporter dashboards plot (vmstat, netstat/snmp, sockstat, softnet, arp,
udp, entropy, file-nr, the sampler's own /proc/self/stat). Numbers follow the board's work.

Cheap by design: texts are templates built once per board; a frame fills in a few integers.
The slow files (interface properties, os-release, statfs, adjtimex, eMMC wear) are sent as
remembered records at connect and every slow tick, as the real sampler sends them; the counters
only a scrape shows go out the same way every few frames (a real sampler reads them every
frame: the demo trades their freshness for its own CPU).
"""
from __future__ import annotations

import random

from console.demo.layout import Layout

PAGE = 4096
NET_CLASS = ("addr_assign_type", "carrier", "carrier_changes", "carrier_up_count",
             "carrier_down_count", "dev_id", "dormant", "flags", "ifindex", "iflink", "link_mode",
             "mtu", "name_assign_type", "netdev_group", "speed", "tx_queue_len", "type")
OS_RELEASE = ('PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nNAME="Debian GNU/Linux"\n'
              'VERSION_ID="12"\nVERSION="12 (bookworm)"\nVERSION_CODENAME=bookworm\nID=debian\n')
LIMITS = ("Limit                     Soft Limit           Hard Limit           Units     \n"
          "Max open files            1024                 524288               files     \n"
          "Max address space         unlimited            unlimited            bytes     \n")
VMSTAT = "nr_free_pages %d\npgpgin %d\npgpgout %d\npswpin 0\npswpout 0\npgfault %d\npgmajfault %d\noom_kill 0\n"
NETSTAT = ("TcpExt: SyncookiesSent SyncookiesRecv SyncookiesFailed ListenOverflows ListenDrops "
           "TCPTimeouts TCPSynRetrans\nTcpExt: 0 0 0 0 0 %d %d\n"
           "IpExt: InOctets OutOctets\nIpExt: %d %d\n")
SNMP = ("Ip: Forwarding DefaultTTL InReceives InHdrErrors InDelivers OutRequests\n"
        "Ip: 2 64 %d 0 %d %d\n"
        "Icmp: InMsgs InErrors OutMsgs\nIcmp: %d 0 %d\n"
        "Tcp: RtoAlgorithm ActiveOpens PassiveOpens InSegs OutSegs RetransSegs InErrs OutRsts CurrEstab\n"
        "Tcp: 1 %d %d %d %d %d 0 %d %d\n"
        "Udp: InDatagrams NoPorts InErrors OutDatagrams RcvbufErrors SndbufErrors\n"
        "Udp: %d %d 0 %d 0 0\n"
        "UdpLite: InDatagrams NoPorts InErrors OutDatagrams RcvbufErrors SndbufErrors\n"
        "UdpLite: 0 0 0 0 0 0\n")
SOCKSTAT = ("sockets: used %d\nTCP: inuse %d orphan 0 tw %d alloc %d mem %d\nUDP: inuse 3 mem 2\n"
            "UDPLITE: inuse 0\nRAW: inuse 0\nFRAG: inuse 0 memory 0\n")
SOCKSTAT6 = "TCP6: inuse 2\nUDP6: inuse 2\nUDPLITE6: inuse 0\nRAW6: inuse 1\nFRAG6: inuse 0 memory 0\n"
UDP_HEAD = ("   sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  "
            "timeout inode ref pointer drops\n")
UDP_ROW = ("  %d: 00000000:%04X 00000000:0000 07 00000000:%08X 00:00000000 00000000   108        "
           "0 %d 2 0000000000000000 0\n")
SELF_STAT = ("%d (bash) S 1 %d %d 0 -1 4194560 900 0 0 0 %d %d 0 0 20 0 1 0 %d 8900608 940 "
             "18446744073709551615 1 1 0 0 0 0 65536 3670020 1266777851 0 0 0 17 0 0 0 0 0 0\n")


class BoardExtras:
    """One board's extra files. static() once, slow(now) at connect and every slow tick,
    dynamic(sim, now) every frame."""

    def __init__(self, layout: Layout, rng: random.Random, boot_time: float):
        p = layout.profile
        self.p, self.layout, self.rng = p, layout, rng
        self.disk = p.storage.device if p.storage else ("sda" if p.product else "mmcblk0")
        self.read_b = self.written_b = 0.0          # bytes since boot
        self.ios = [0.0, 0.0, 0.0]                   # reads, writes, io ms
        self.used = (p.storage.used if p.storage else 0.35)
        self.pid = rng.randint(900, 30000)
        self.boot_time = boot_time
        self.ro = bool(p.storage and p.storage.readonly_root)
        self.macs: dict[str, str] = {}               # interface -> its address, fixed once drawn

    # ---- once per connection --------------------------------------------------------------
    def static(self) -> dict[str, str]:
        p, out = self.p, {}
        out["proc/sys/kernel/version"] = "#1 SMP PREEMPT Debian (2024-10-08)\n"
        out["proc/sys/kernel/ostype"] = "Linux\n"
        out["proc/sys/kernel/domainname"] = "(none)\n"
        out["proc/sys/kernel/random/poolsize"] = "256\n"
        out["proc/self/limits"] = LIMITS
        st = p.storage
        if st is not None and st.kind == "emmc":
            card = "sys/class/mmc_host/mmc0/mmc0:0001"
            out[f"{card}/type"], out[f"{card}/name"] = "MMC\n", "BJTD4R\n"
        if st is not None and st.kind == "nvme":
            base = "sys/class/nvme/nvme0"
            out.update({f"{base}/model": "Samsung SSD 980 500GB\n", f"{base}/serial": "S64DNX0T0\n",
                        f"{base}/firmware_rev": "3B4QFXO7\n"})
        if p.poe:
            ps = "sys/class/power_supply/rpi-poe"
            out[f"{ps}/type"], out[f"{ps}/current_max"] = "Mains\n", "2500000\n"
        ina = self.layout.ina
        if ina:
            out.update({f"{ina}/in1_crit": "5500\n", f"{ina}/in1_lcrit": "4750\n",
                        f"{ina}/curr1_crit": "4000\n", f"{ina}/update_interval": "2\n"})
        return out

    # ---- every slow tick --------------------------------------------------------------------
    def slow(self, now: float) -> dict[str, str]:
        p, out = self.p, {}
        arch = "armv7l" if p.arm32 else ("x86_64" if p.product else "aarch64")
        page = 16384 if p.name == "rpi5" else PAGE
        out["cmd/uname"] = f"{arch}\n{page}\n"
        out["cmd/filesystems"] = self._filesystems()
        out["cmd/timex"] = f"+0000 UTC\n0 0 -{self.rng.randint(1000, 90000)} 1234567 4500 600 8193 7 " \
                           f"1 32768000 {int(now)} 0 10000 0 0 0 0 0 0 0 0 37\n"
        out["etc/os-release"] = OS_RELEASE
        out["proc/sys/net/netfilter/nf_conntrack_max"] = "65536\n"
        out["sys/devices/system/clocksource/clocksource0/available_clocksource"] = \
            ("tsc hpet acpi_pm \n" if p.product else "arch_sys_counter \n")
        out["sys/devices/system/clocksource/clocksource0/current_clocksource"] = \
            ("tsc\n" if p.product else "arch_sys_counter\n")
        for i, nic in enumerate(p.nics):
            out.update(self._netclass(nic.name, i + 2, nic.rate > 0))
        st = p.storage
        if st is not None and st.kind == "emmc":
            card = "sys/class/mmc_host/mmc0/mmc0:0001"
            out[f"{card}/life_time"] = f"0x{st.life[0]:02x} 0x{st.life[1]:02x}\n"
            out[f"{card}/pre_eol_info"] = f"0x{st.pre_eol:02x}\n"
        return out

    def _netclass(self, name: str, index: int, up: bool) -> dict[str, str]:
        base = f"sys/class/net/{name}"
        values = dict(zip(NET_CLASS, ("0", "1" if up else "0", "2", "1", "1", "0x0", "0",
                                      "0x1003" if up else "0x1002", str(index), str(index), "0",
                                      "1500", "4", "0", "1000" if up else "-1", "1000", "1")))
        out = {f"{base}/{k}": v + "\n" for k, v in values.items()}
        mac = f"dc:a6:32:{index:02x}:{self.rng.randint(0, 255):02x}:{self.rng.randint(0, 255):02x}"
        # a NIC keeps its first address (a new one each tick was a new Prometheus series each
        # tick); drawn still, so every later random value of the demo is what it was
        mac = self.macs.setdefault(name, mac)
        out.update({f"{base}/address": mac + "\n", f"{base}/broadcast": "ff:ff:ff:ff:ff:ff\n",
                    f"{base}/duplex": "full\n" if up else "unknown\n", f"{base}/ifalias": "\n",
                    f"{base}/operstate": "up\n" if up else "down\n",
                    f"{base}/statistics/rx_nohandler": "0\n"})
        return out

    def _filesystems(self) -> str:
        st = self.p.storage
        size_gb = st.size_gb if st else 32
        dev = f"/dev/{self.disk}p2" if self.disk.startswith(("mmc", "nvme")) else f"/dev/{self.disk}1"
        blocks = size_gb * 2**30 // 4096
        free = int(blocks * (1.0 - self.used))
        avail = max(0, free - blocks // 20)       # ext4 reserves 5% for root
        boot = f"/dev/{self.disk}p1" if self.disk.startswith(("mmc", "nvme")) else f"/dev/{self.disk}2"
        opts = "ro,noatime" if self.ro else "rw,noatime"
        return (f"{dev} / ext4 {opts}\n{boot} /boot/firmware vfat rw,relatime\n"
                f"tmpfs /run tmpfs rw,nosuid,nodev,mode=755\n--\n"
                f"{blocks} {free} {avail} 4096 {blocks // 16} {blocks // 20} /\n"
                f"130554 104987 104987 4096 0 0 /boot/firmware\n"
                f"97110 96843 96843 4096 485551 484792 /run\n")

    # ---- every frame ------------------------------------------------------------------------
    def dynamic(self, util: float, dt: float, flags: int, power_fraction: float,
                out: dict[str, str]) -> None:
        """Fill out with this frame's files; util is the board's mean CPU use (0..1)."""
        rd, wr = 2e6 * util * dt * self.rng.random(), 4e6 * util * dt * self.rng.random()
        self.read_b, self.written_b = self.read_b + rd, self.written_b + wr
        self.used = min(0.995, self.used + wr / ((self.p.storage.size_gb if self.p.storage else 32) * 2**30))
        self.ios[0] += rd / 65536
        self.ios[1] += wr / 65536
        self.ios[2] += 1000 * dt * min(1.0, util * 0.3)
        out["proc/diskstats"] = self._diskstats()
        if self.layout.volt_alarm:
            out[self.layout.volt_alarm] = "1\n" if flags & 0x1 else "0\n"
        if self.layout.ina:
            self._ina(self.layout.ina, power_fraction, out)
        if self.p.poe:
            out["sys/class/power_supply/rpi-poe/online"] = "1\n"
            out["sys/class/power_supply/rpi-poe/current_now"] = f"{int(600000 + 900000 * power_fraction)}\n"

    def counters(self, util: float, net: list[list[float]], procs: int) -> dict[str, str]:
        """The counters only a Prometheus scrape shows (netstat, vmstat, sockets ...). The demo
        sends them every few frames as remembered records: a thousand boards' worth every
        second would cost the one process more than the boards' own numbers."""
        out: dict[str, str] = {}
        rx = sum(int(c[1]) for c in net)
        tx = sum(int(c[3]) for c in net)
        out["proc/vmstat"] = VMSTAT % (200000, self.read_b // 1024, self.written_b // 1024,
                                       procs * 3100, procs // 7)
        out["proc/net/netstat"] = NETSTAT % (rx // 90000, rx // 40000, sum(int(c[0]) for c in net),
                                             sum(int(c[2]) for c in net))
        out["proc/net/snmp"] = SNMP % (rx, rx, tx, rx // 5000, tx // 5000, procs // 3, procs // 2,
                                       rx, tx, tx // 3000, procs // 40, 4 + int(6 * util), rx // 50,
                                       rx // 300, tx // 50)
        out["proc/net/sockstat"] = SOCKSTAT % (40 + int(30 * util), 4 + int(6 * util), 9, 6, 3)
        out["proc/net/sockstat6"] = SOCKSTAT6
        out["proc/net/softnet_stat"] = "".join(
            f"{rx // self.p.cores + i:08x} 00000000 00000000 00000000 00000000 00000000 00000000 "
            f"00000000 00000000 00000000 00000000 00000000 {i:08x}\n" for i in range(self.p.cores))
        out["proc/net/arp"] = (
            "IP address       HW type     Flags       HW address            Mask     Device\n"
            f"10.0.0.1         0x1         0x2         dc:a6:32:00:00:01     *        {self.p.nics[0].name}\n")
        out["proc/net/udp"] = UDP_HEAD + UDP_ROW % (0, 323, 0, 14400)
        out["proc/net/udp6"] = UDP_HEAD
        out["proc/sys/kernel/random/entropy_avail"] = "256\n"
        out["proc/sys/fs/file-nr"] = f"{900 + procs // 4}\t0\t9223372036854775807\n"
        out["proc/sys/net/netfilter/nf_conntrack_count"] = f"{20 + int(40 * util)}\n"
        ticks = int(40 + procs / 200)
        out["proc/self/stat"] = SELF_STAT % (self.pid, self.pid, self.pid, ticks, ticks // 2,
                                             int((self.boot_time % 86400) * 100))
        return out

    def _diskstats(self) -> str:
        r, w, ms = self.ios
        rs, ws = int(self.read_b // 512), int(self.written_b // 512)
        whole = (f"{self.disk} {int(r)} 12 {rs} {int(r * 3)} {int(w)} 40 {ws} {int(w * 5)} 0 {int(ms)} "
                 f"{int(ms * 2)} 0 0 0 0 {int(w // 9)} {int(w // 3)}")
        part = (f"{self.disk}p2" if self.disk.startswith(("mmc", "nvme")) else f"{self.disk}1")
        major = {"m": 179, "n": 259}.get(self.disk[0], 8)
        return (f"{major:4d}       0 {whole}\n"
                f"{major:4d}       2 {part} {int(r)} 12 {rs} {int(r * 3)} {int(w)} 40 {ws} {int(w * 5)} 0 "
                f"{int(ms)} {int(ms * 2)} 0 0 0 0 0 0\n"
                "   7       0 loop0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0\n")

    def _ina(self, ina: str, fraction: float, out: dict[str, str]) -> None:
        volts = 5100 - int(120 * fraction)
        amps = int(450 + 2600 * fraction + 40 * self.rng.random())
        out[f"{ina}/in0_input"] = f"{amps * 2 // 1000}\n"
        out[f"{ina}/in1_input"] = f"{volts}\n"
        out[f"{ina}/curr1_input"] = f"{amps}\n"
        out[f"{ina}/power1_input"] = f"{volts * amps}\n"

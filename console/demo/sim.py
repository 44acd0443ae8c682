"""One simulated board's state over time, and the kernel files it shows.

Cheap by design (a thousand boards tick once a second in one process): plain floats and lists,
exact exponential steps so any dt is stable, and strings built only when a frame is asked for.
"""
from __future__ import annotations

import math
import random

from console.demo.boards import Profile
from console.demo.extras import BoardExtras
from console.demo.layout import CPUFREQ, FAN, ZONE, Layout, freq_keys

USER_HZ = 100
IDLE_RISE = 9.0        # C above ambient of an idle board
PACKET = 900.0         # mean bytes per packet
NET_HEAD = ("Inter-|   Receive                                                |  Transmit\n"
            " face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets "
            "errs drop fifo colls carrier compressed\n")
CPU_LINE = "cpu%d %d %d %d %d %d %d %d 0 0 0\n"
# The kernel's own column widths (net/core/net-procfs.c); multicast follows rx packets.
NET_ROW = ("%6s:%8d %7d    0    0    0     0          0 %9d %8d %7d    0    0    0     0"
           "       0          0\n")
MEMINFO = ("MemTotal:       {:8d} kB\nMemFree:        {:8d} kB\nMemAvailable:   {:8d} kB\n"
           "Buffers:        {:8d} kB\nCached:         {:8d} kB\nSwapCached:            0 kB\n"
           "Active:         {:8d} kB\nInactive:       {:8d} kB\nSwapTotal:             0 kB\n"
           "SwapFree:              0 kB\nDirty:                48 kB\nShmem:          {:8d} kB\n")


class BoardSim:
    """State of one board. advance(now) moves it; files(now) returns the dynamic files."""

    extras: BoardExtras        # boot() makes these (a reboot makes them afresh)
    util: list[float]
    loads: list[float]

    def __init__(self, layout: Layout, rng: random.Random, ambient: float, now: float):
        p = layout.profile
        self.layout, self.p, self.rng, self.ambient = layout, p, rng, ambient + p.ambient_offset
        self.jobs = 0                                  # real commands running on this node
        self.undervolt_next = now + rng.expovariate(1 / (300.0 if p.arm32 else 900.0))
        self._freq_str = {f: f"{f}\n" for c in p.clusters for f in c.opps_khz}
        self.cores = p.cores
        # (scaling_cur, scaling_min, scaling_max keys, cluster, its OPPs) per cpu, built once.
        self._freq_keys = [(*freq_keys(cpu), ci, p.clusters[ci].opps_khz)
                           for cpu, ci in layout.freqs]
        self.dt = 1.0
        self.boot(now - rng.uniform(3600.0, 20 * 86400.0), now, fresh=False)
        layout.static.update(self.extras.static())
        self._settle(now)

    def _settle(self, now: float) -> None:
        """A board that has been up a while: temperature, fan and load already match its work."""
        self._workload(now)
        self._utilisation()
        self._frequency()
        for _ in range(3):  # fan and temperature settle together
            self.temp = self._target(now)
            if self.p.fan:
                self._fan(self.p)
        self.loads = [sum(self.util)] * 3

    # -- life cycle -----------------------------------------------------------------------------
    def boot(self, boot_time: float, now: float, fresh: bool = True) -> None:
        """Fresh kernel: counters from zero (plus what ran since boot_time), sticky flags cleared."""
        p, up = self.p, max(0.0, now - boot_time)
        self.boot_time, self.last = boot_time, now
        self.ticks = [[up * 4.0, 0.0, up * 1.5, up * 93.0, up * 0.4, 0.0, up * 0.1]
                      for _ in range(p.cores)]
        self.net = [[self._rx_start(n.rate, n.wrap32, up, fresh), 0.0, n.rate * 0.015 * up, 0.0]
                    for n in p.nics]
        self.temp = self.ambient + IDLE_RISE
        self.loads = [0.1, 0.1, 0.1]
        self.level = [0] * len(p.clusters)             # step_wise throttle level per cluster
        self.flags = 0
        self.undervolt_until = 0.0
        self.work_k, self.work_u, self.work_until = 0, 0.0, now
        self.util = [0.02] * p.cores
        self.freq = [c.opps_khz[0] for c in p.clusters]
        self.pwm, self.rpm, self.procs = 0, 0.0, 300 + int(up / 30)
        self.extras = BoardExtras(self.layout, self.rng, boot_time)   # disks count from boot

    def _rx_start(self, rate: float, wrap32: bool, up: float, fresh: bool) -> float:
        # A 32-bit counter on a board up for days sits anywhere; put it just short of the wrap
        # so a demo shows one within its first minutes. A fresh boot starts from zero.
        if wrap32 and not fresh:
            return 2.0**32 - rate * self.rng.uniform(3.0, 15.0)
        return rate * 0.04 * up

    # -- physics --------------------------------------------------------------------------------
    def advance(self, now: float) -> None:
        dt = now - self.last
        if dt <= 0:
            return
        self.last, self.dt = now, dt
        self._workload(now)
        self._undervolt(now)
        self._utilisation()
        self._thermal(now, dt)
        self._frequency()
        self._counters(dt)

    def _workload(self, now: float) -> None:
        # A telegraph process: idle spells and busy spells on k cores, exponential lengths.
        rng = self.rng
        while self.work_until <= now:
            if self.work_k:
                self.work_k, self.work_until = 0, self.work_until + rng.expovariate(1 / 40.0)
            else:
                self.work_k = rng.randint(1, self.cores)
                self.work_u = rng.uniform(0.6, 1.0)
                self.work_until += rng.expovariate(1 / 60.0)

    def _undervolt(self, now: float) -> None:
        if not self.p.rpi or now < self.undervolt_next:
            return
        self.undervolt_until = now + self.rng.uniform(2.0, 8.0)
        self.undervolt_next = now + self.rng.expovariate(1 / (300.0 if self.p.arm32 else 900.0))

    def _utilisation(self) -> None:
        # Busy work lands on the biggest cores first (the scheduler prefers them); jobs fill next.
        n, rnd = self.cores, self.rng.random
        busy = min(n, self.work_k + self.jobs)
        order = range(n - 1, -1, -1)
        util = [0.01 + 0.05 * rnd() for _ in range(n)]
        for rank, cpu in enumerate(order):
            if rank < self.jobs:
                util[cpu] = 0.97 + 0.03 * rnd()
            elif rank < busy:
                util[cpu] = self.work_u * (0.9 + 0.1 * rnd())
        self.util = util

    def _power_fraction(self) -> float:
        total = used = 0.0
        for ci, c in enumerate(self.p.clusters):
            scale = (self.freq[ci] / c.opps_khz[-1]) ** 1.5
            total += c.weight * len(c.cpus)
            used += c.weight * scale * sum(self.util[cpu] for cpu in c.cpus)
        return used / total

    def _thermal(self, now: float, dt: float) -> None:
        p = self.p
        self.temp += (self._target(now) - self.temp) * (1.0 - math.exp(-dt / p.tau))
        if p.fan:
            self._fan(p)

    def _target(self, now: float) -> float:
        """Where the temperature heads: ambient (drifting slowly) plus the rise for this power."""
        p = self.p
        ambient = self.ambient + math.sin(now / 900.0) * 1.0
        fan_div = 1.0 + (p.fan.gain * self.pwm / 255.0 if p.fan else 0.0)
        return ambient + IDLE_RISE + p.rise * self._power_fraction() / fan_div

    def _fan(self, p: Profile) -> None:
        fan = p.fan
        if fan is None:
            return
        pwm = 0
        for temp, level in fan.curve:
            if self.temp >= temp:
                pwm = level
        self.pwm = pwm
        self.rpm = fan.max_rpm * (pwm / 255.0) ** 0.8 * (0.98 + 0.04 * self.rng.random())

    def _frequency(self) -> None:
        # step_wise governor: one OPP lower per tick above the trip, back up below trip - 3.
        p, hot = self.p, self.temp >= self.p.trip
        cool = self.temp < self.p.trip - 3.0
        uv = self.undervolt_until > self.last
        for ci, c in enumerate(p.clusters):
            top = len(c.opps_khz) - 1
            self.level[ci] = min(top, self.level[ci] + 1) if hot else (
                max(0, self.level[ci] - 1) if cool else self.level[ci])
            demand = max(self.util[cpu] for cpu in c.cpus)
            want = min(top, int(demand * top + 0.999)) if demand > 0.08 else 0
            cap = 0 if uv else top - self.level[ci]
            self.freq[ci] = c.opps_khz[min(want, cap)]
        if p.rpi:
            self._rpi_flags(uv, any(self.level))

    def _rpi_flags(self, uv: bool, capped: bool) -> None:
        now = (0x1 if uv else 0) | (0x2 if capped else 0)
        now |= 0x4 if (uv or self.temp >= self.p.trip + 5.0) else 0
        self.flags = (self.flags & 0xF0000) | now | (now << 16)

    def _counters(self, dt: float) -> None:
        hz = dt * USER_HZ
        for cpu, u in enumerate(self.util):
            t = self.ticks[cpu]
            t[0] += hz * u * 0.84
            t[2] += hz * u * 0.13
            t[6] += hz * u * 0.03
            t[3] += hz * (1.0 - u) * 0.995
            t[4] += hz * (1.0 - u) * 0.005
        mean = sum(self.util) / len(self.util)
        for nic, c in zip(self.p.nics, self.net):
            rx = nic.rate * dt * (0.01 + 0.3 * mean) * (0.8 + 0.4 * self.rng.random())
            c[0] += rx
            c[1] += rx / PACKET
            c[2] += rx * 0.35
            c[3] += rx * 0.35 / PACKET
        runnable = sum(self.util) + 0.3 * self.rng.random()
        for i, window in enumerate((60.0, 300.0, 900.0)):
            decay = math.exp(-dt / window)
            self.loads[i] = self.loads[i] * decay + runnable * (1.0 - decay)
        self.procs += int(dt * (1 + 6 * mean))

    # -- files ----------------------------------------------------------------------------------
    def files(self, now: float) -> dict[str, str]:
        """Every dynamic file of this board as the kernel would print it now."""
        self.advance(now)
        out = {"proc/stat": self._stat(), "proc/loadavg": self._loadavg(),
               "proc/meminfo": self._meminfo(), "proc/uptime": self._uptime(now),
               "proc/net/dev": self._netdev()}
        self._sensor_files(out)
        fs, freq, level = self._freq_str, self.freq, self.level
        for cur, lo, hi, ci, opps in self._freq_keys:
            out[cur] = fs[freq[ci]]
            out[lo] = fs[opps[0]]
            out[hi] = fs[opps[len(opps) - 1 - level[ci]]]
        if self.layout.throttled:
            out[self.layout.throttled] = f"{self.flags:x}\n"
        self.extras.dynamic(sum(self.util) / len(self.util), self.dt, self.flags,
                            self._power_fraction(), out)
        return out

    def slow_files(self, now: float) -> dict[str, str]:
        """The files the sampler reads every slow tick (statfs, interface properties, wear)."""
        return self.extras.slow(now)

    def counter_files(self) -> dict[str, str]:
        """netstat, vmstat, sockets ...: what only a Prometheus scrape shows (see extras)."""
        return self.extras.counters(sum(self.util) / len(self.util), self.net, self.procs)

    def zone_temp(self, i: int) -> float:
        z = self.p.zones[i]
        extra = 0.0
        if z.cluster is not None:
            cpus = self.p.clusters[z.cluster].cpus
            extra = z.gain * sum(self.util[c] for c in cpus) / len(cpus)
        return self.temp + z.offset + extra

    def _milli(self, celsius: float) -> str:
        step = self.p.temp_step
        return f"{int(celsius * 1000 / step) * step}\n"

    def _sensor_files(self, out: dict[str, str]) -> None:
        lay = self.layout
        for key, i in lay.zone_temps:
            out[key] = self._milli(self.zone_temp(i))
        for key, kind, arg in lay.hwmon_temps:
            out[key] = self._milli(self.zone_temp(int(arg)) if kind == ZONE else self.temp + arg)
        for key, kind, arg in lay.cooling:
            out[key] = f"{self._cooling_state(kind, arg)}\n"
        if lay.fan_pwm:
            out[lay.fan_pwm] = f"{self.pwm}\n"
        if lay.fan_rpm:
            out[lay.fan_rpm] = f"{int(self.rpm)}\n"

    def _cooling_state(self, kind: str, arg: int) -> int:
        if kind == CPUFREQ:
            return self.level[arg]
        if kind == FAN and self.p.fan is not None:
            levels = [lvl for _, lvl in self.p.fan.curve if lvl]
            return sum(1 for lvl in levels if self.pwm >= lvl)
        return 0  # CONST: ACPI processor throttling, never engaged here

    def _stat(self) -> str:
        # %d truncates the float tick counters as the kernel's integer jiffies would read.
        ticks = self.ticks
        total = [sum(col) for col in zip(*ticks)]
        lines = ["cpu  %d %d %d %d %d %d %d 0 0 0\n" % tuple(total)]
        lines += [CPU_LINE % (i, *t) for i, t in enumerate(ticks)]
        up = int(total[3] / len(ticks))
        lines.append(f"intr {up * 913} 0 0\nctxt {up * 2411}\nbtime {int(self.boot_time)}\n"
                     f"processes {self.procs}\nprocs_running {1 + self.work_k + self.jobs}\n"
                     "procs_blocked 0\nsoftirq 1 2 3 4 5 6 7 8 9 10 11\n")
        return "".join(lines)

    def _loadavg(self) -> str:
        l1, l5, l15 = self.loads
        running = 1 + self.work_k + self.jobs
        return f"{l1:.2f} {l5:.2f} {l15:.2f} {running}/{180 + 10 * self.p.cores} {self.procs}\n"

    def _meminfo(self) -> str:
        total = self.p.mem_kb
        mean = sum(self.util) / len(self.util)
        avail = int(total * (0.82 - 0.3 * mean - 0.04 * min(self.jobs, 4)))
        free = int(avail * 0.55)
        cached = int(avail * 0.38)
        return MEMINFO.format(total, free, avail, total // 400, cached, total - avail,
                              cached // 2, total // 200)

    def _uptime(self, now: float) -> str:
        up = now - self.boot_time
        idle = sum(t[3] for t in self.ticks) / USER_HZ
        return f"{up:.2f} {idle:.2f}\n"

    def _netdev(self) -> str:
        lo = self.procs * 64
        rows = [NET_HEAD, NET_ROW % ("lo", lo, lo // 512, 0, lo, lo // 512)]
        for nic, c in zip(self.p.nics, self.net):
            vals = [int(v) for v in c]
            if nic.wrap32:
                vals = [v & 0xFFFFFFFF for v in vals]
            rows.append(NET_ROW % (nic.name, vals[0], vals[1], vals[1] // 5000, vals[2], vals[3]))
        return "".join(rows)

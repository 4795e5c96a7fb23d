/**
 * CPU time and resident memory of any process by PID, read from /proc (Linux), so that a hub, a
 * redis-server and the load workers are measured the same way, without asking them over IPC.
 */
import { readFileSync } from 'node:fs';

/** Clock ticks per second of /proc/<pid>/stat (`getconf CLK_TCK`; 100 on every Linux we run on). */
const TICKS_PER_SECOND = 100;

/** User + system CPU seconds the process has used so far, or NaN once it has gone. */
export function cpuSeconds(pid: number): number {
  try {
    // The command name (field 2) may hold spaces and parentheses: count fields after its closing one.
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // utime and stime are fields 14 and 15 of the whole line, 12 and 13 after the name.
    return (Number(fields[11]) + Number(fields[12])) / TICKS_PER_SECOND;
  } catch {
    return NaN;
  }
}

/** VmRSS of the process in bytes (no forced GC: what the kernel sees), or NaN once it has gone. */
export function rssBytes(pid: number): number {
  try {
    const match = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match ? Number(match[1]) * 1024 : NaN;
  } catch {
    return NaN;
  }
}

/** Busy and total CPU seconds of the whole machine (every core) from the first line of /proc/stat. */
function machineSeconds(): { busy: number; total: number } {
  const [, ...values] = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0]!.trim().split(/\s+/);
  const ticks = values.map(Number);
  // user nice system idle iowait irq softirq steal (guest time is already inside user and nice).
  const idle = ticks[3]! + ticks[4]!;
  const total = ticks.slice(0, 8).reduce((s, t) => s + t, 0);
  return { busy: (total - idle) / TICKS_PER_SECOND, total: total / TICKS_PER_SECOND };
}

/** Percent of one core per named process over a window, plus what the rest of the machine used. */
export interface CpuShare {
  /** Name → % of one core (100 = one core busy for the whole window). */
  processes: Record<string, number>;
  /** Busy CPU of processes not in the list (other workers on this shared machine), % of one core. */
  others: number;
  /** Cores in the machine's total, so that `processes` + `others` can be read against it. */
  cores: number;
}

/** Starts a window over the named PIDs; `stop()` returns each one's share of a core since then. */
export function cpuWindow(pids: Record<string, number>): { stop(): CpuShare } {
  const started = performance.now();
  const before = Object.fromEntries(Object.entries(pids).map(([name, pid]) => [name, cpuSeconds(pid)]));
  const machineBefore = machineSeconds();
  return {
    stop() {
      const seconds = (performance.now() - started) / 1000;
      const machine = machineSeconds();
      const processes: Record<string, number> = {};
      let ours = 0;
      for (const [name, pid] of Object.entries(pids)) {
        const used = cpuSeconds(pid) - before[name]!;
        processes[name] = Math.round((used / seconds) * 100);
        ours += used;
      }
      const busy = machine.busy - machineBefore.busy;
      const cores = Math.round((machine.total - machineBefore.total) / seconds);
      return { processes, others: Math.max(0, Math.round(((busy - ours) / seconds) * 100)), cores };
    },
  };
}

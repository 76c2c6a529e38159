// The benchmark's CPU accounting (bench/cpu.ts): /proc/<pid>/stat parsing and
// the sum over a process tree, on lines as the kernel writes them.
import assert from "node:assert/strict";
import { test } from "node:test";
import { cpuSeconds, parseProcStat, subtreeTicks } from "../../bench/cpu";

// pid (comm) state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime cutime cstime ...
const stat = (pid: number, comm: string, ppid: number, utime: number, stime: number, cutime: number, cstime: number) =>
  `${pid} (${comm}) S ${ppid} ${pid} ${pid} 0 -1 4194560 100 0 0 0 ${utime} ${stime} ${cutime} ${cstime} 20 0 1 0 123 4096 10 18446744073709551615`;

test("a stat line is read past a command name with spaces and parentheses", () => {
  assert.deepEqual(parseProcStat(stat(42, "sshd: root@notty (x)", 7, 3, 4, 50, 60)), { pid: 42, ppid: 7, comm: "sshd: root@notty (x)", own: 7, reaped: 110 });
});

test("a tree's ticks are each live process's own and reaped time, and nothing outside it", () => {
  const stats = [
    stat(1, "init pve1", 0, 1, 1, 10, 0), // the root: 12
    stat(2, "sshd", 1, 5, 5, 200, 100), // 310: the sessions it reaped
    stat(3, "sshd: root@notty", 2, 2, 3, 40, 0), // 45: a session still open
    stat(4, "bash", 3, 1, 1, 0, 0), // 2
    stat(9, "fail2ban-server", 8, 500, 0, 0, 0), // another host's
  ].map(parseProcStat);
  assert.equal(subtreeTicks(stats, 2), 310 + 45 + 2);
  assert.equal(subtreeTicks(stats, 1), 12 + 310 + 45 + 2);
  assert.equal(subtreeTicks(stats, 77), 0);
});

test("seconds between snapshots, at 100 ticks per second", () => {
  assert.deepEqual(cpuSeconds({ local: 100, hostCommands: 50, hostDaemons: 0 }, { local: 350, hostCommands: 150, hostDaemons: 20 }), { local: 2.5, hostCommands: 1, hostDaemons: 0.2 });
});

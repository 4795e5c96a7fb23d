/** Answers the harness's IPC questions for a server process: its RSS after GC and its CPU time. */
export function answerStats(onStop: () => Promise<void> | void): void {
  process.on('message', async (message: { cmd: string }) => {
    if (message.cmd === 'stats') {
      (globalThis as { gc?: () => void }).gc?.();
      const memory = process.memoryUsage();
      const cpu = process.cpuUsage();
      process.send!({ cmd: 'stats', rss: memory.rss, heapUsed: memory.heapUsed, cpuMicros: cpu.user + cpu.system });
    }
    if (message.cmd === 'stop') {
      await onStop();
      process.exit(0);
    }
  });
}

package dev.ncro.bench;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;

/**
 * CPU time used so far by the parties of an in-process bench on Linux: this JVM (the ncro nodes it
 * hosts), its finished children (the load generator, once waited for) and every process running
 * one program (a database server's processes). Two readings around a phase, divided by the
 * requests it served, give each party's CPU per request: the figures that say whether a goal is
 * out of reach of the machine's cores whatever ncro does.
 *
 * @param selfNanos this process, user and system time
 * @param childrenNanos its children that have been waited for
 * @param serverNanos every live process of the server program (one that exits takes its share along)
 */
record CpuUse(long selfNanos, long childrenNanos, long serverNanos) {
  /** Linux's USER_HZ: /proc reports CPU time in ticks of 10 ms on every architecture it runs. */
  private static final long NANOS_PER_TICK = 10_000_000L;

  /** The time used now; {@code program} is the server's executable file name, such as postgres. */
  static CpuUse now(String program) {
    long[] self = stat(Path.of("/proc/self/stat"));
    long server = ProcessHandle.allProcesses()
        .filter(p -> p.info()
            .command()
            .map(c -> Path.of(c).getFileName().toString().equals(program))
            .orElse(false))
        .mapToLong(p -> p.info().totalCpuDuration().map(Duration::toNanos).orElse(0L))
        .sum();
    return new CpuUse(
        (self[0] + self[1]) * NANOS_PER_TICK, (self[2] + self[3]) * NANOS_PER_TICK, server);
  }

  /** The time each party used between {@code before} and this reading. */
  CpuUse since(CpuUse before) {
    return new CpuUse(
        selfNanos - before.selfNanos,
        childrenNanos - before.childrenNanos,
        serverNanos - before.serverNanos);
  }

  /** Microseconds per request of each party, for {@code requests} requests. */
  double[] microsPer(long requests) {
    double n = Math.max(1, requests) * 1000.0;
    return new double[] {selfNanos / n, childrenNanos / n, serverNanos / n};
  }

  /** utime, stime, cutime, cstime of a /proc/PID/stat (fields 14 to 17, after the command). */
  private static long[] stat(Path file) {
    String s;
    try {
      s = Files.readString(file);
    } catch (IOException e) {
      throw new IllegalStateException("cannot read " + file + ": CPU figures need Linux", e);
    }
    String[] f = s.substring(s.lastIndexOf(')') + 2).split(" ");
    // f[0] is field 3 (state): field n is f[n - 3]
    return new long[] {
      Long.parseLong(f[11]), Long.parseLong(f[12]), Long.parseLong(f[13]), Long.parseLong(f[14])
    };
  }
}

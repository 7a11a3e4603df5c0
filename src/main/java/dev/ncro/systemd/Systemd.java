package dev.ncro.systemd;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * What systemd handed this process through its environment: listening sockets (socket activation,
 * {@code LISTEN_FDS}), the readiness socket ({@code NOTIFY_SOCKET}) and the watchdog period
 * ({@code WATCHDOG_USEC}). The rules are sd_listen_fds(3) and sd_watchdog_enabled(3): a variable
 * meant for another process (its {@code *_PID} names another PID) is ignored, so a child started
 * by a socket-activated shell does not steal the shell's socket.
 *
 * @param listenFds inherited listening sockets, from fd 3 up; empty when none
 * @param notifySocket the {@code NOTIFY_SOCKET} path ({@code @name}: abstract namespace), or null
 * @param watchdogPing how often to send {@code WATCHDOG=1} (half of {@code WATCHDOG_USEC}), or null
 */
public record Systemd(List<Integer> listenFds, String notifySocket, Duration watchdogPing) {
  /** sd_listen_fds(3): passed sockets start at this descriptor. */
  static final int FIRST_FD = 3;

  public static final Systemd NONE = new Systemd(List.of(), null, null);

  public Systemd {
    listenFds = List.copyOf(listenFds);
  }

  /** Reads the environment of process {@code pid}; throws on a malformed value, naming it. */
  public static Systemd fromEnvironment(Map<String, String> env, long pid) {
    List<Integer> fds = new ArrayList<>();
    if (forThisProcess(env.get("LISTEN_PID"), pid, "LISTEN_PID", false)) {
      long n = positive(env.get("LISTEN_FDS"), "LISTEN_FDS");
      for (int i = 0; i < n; i++) {
        fds.add(FIRST_FD + i);
      }
    }
    String notify = env.get("NOTIFY_SOCKET");
    if (notify != null && notify.isEmpty()) {
      notify = null;
    }
    Duration ping = null;
    String usec = env.get("WATCHDOG_USEC");
    if (usec != null && forThisProcess(env.get("WATCHDOG_PID"), pid, "WATCHDOG_PID", true)) {
      // Half the period, as sd_watchdog_enabled(3) recommends: one lost ping is not yet a kill.
      ping = Duration.ofNanos(positive(usec, "WATCHDOG_USEC") * 1000L / 2);
    }
    return new Systemd(fds, notify, ping);
  }

  private static boolean forThisProcess(String pidText, long pid, String name, boolean whenUnset) {
    if (pidText == null || pidText.isEmpty()) {
      return whenUnset;
    }
    return positive(pidText, name) == pid;
  }

  private static long positive(String text, String name) {
    try {
      long v = Long.parseLong(text == null ? "" : text.strip());
      if (v > 0) {
        return v;
      }
    } catch (NumberFormatException ignored) {
      // reported below
    }
    throw new IllegalArgumentException(
        name + " from systemd is not a positive number: \"" + text + "\"");
  }
}

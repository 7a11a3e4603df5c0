package dev.ncro.metrics;

import java.util.Locale;

/**
 * How one NAR hedge ended, the label of {@code ncro_nar_hedges_total}. An operator reads the ratio
 * of {@code won} to {@code lost} to tune {@code cache.nar_hedge_delay}: many losses mean hedges are
 * sent too early and only add load on the other caches; {@code none_eligible} counts slow NARs no
 * other upstream could have helped with (no other holder of the identical file).
 */
public enum NarHedgeOutcome {
  /** The hedge answered first: its response was streamed and the slow attempt cancelled. */
  WON,
  /** Another attempt answered first (or the client went away): the hedge was cancelled. */
  LOST,
  /** The hedge answered with an error or failed; the other attempts went on. */
  FAILED,
  /** The delay passed but no other upstream has the identical file (same FileHash): nothing sent. */
  NONE_ELIGIBLE;

  public String label() {
    return name().toLowerCase(Locale.ROOT);
  }
}

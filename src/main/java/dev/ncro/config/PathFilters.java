package dev.ncro.config;

import dev.ncro.narinfo.NarInfo;
import java.util.List;

/**
 * An upstream's path filters as a whole: a deny rule that matches rejects the path, whatever the
 * allow rules say; when there is any allow rule, the path must match one of them. No rules admit
 * everything. Judged on the narinfo the upstream returned: a rejected answer counts as that
 * upstream not having the path.
 */
public record PathFilters(List<PathFilter> rules) {
  public static final PathFilters NONE = new PathFilters(List.of());

  public PathFilters {
    rules = List.copyOf(rules);
  }

  public boolean isEmpty() {
    return rules.isEmpty();
  }

  /** Whether this upstream may serve {@code info}'s store path. */
  public boolean admits(NarInfo info) {
    boolean anyAllow = false;
    boolean allowed = false;
    for (PathFilter r : rules) {
      boolean allow = r.action() == PathFilter.Action.ALLOW;
      anyAllow |= allow;
      if (allow && allowed) {
        continue; // already allowed: only a deny can change the verdict now
      }
      if (matches(r, info)) {
        if (!allow) {
          return false;
        }
        allowed = true;
      }
    }
    return !anyAllow || allowed;
  }

  private static boolean matches(PathFilter r, NarInfo info) {
    return switch (r.field()) {
      case NAME -> r.matches(info.name());
      case STORE_PATH -> r.matches(info.storePath());
      case REFERENCE -> {
        String dir = info.storeDir() + "/";
        for (String ref : info.references()) {
          if (r.matches(dir + ref)) {
            yield true;
          }
        }
        yield false;
      }
      case DERIVER -> info.deriver() != null && r.matches(info.storeDir() + "/" + info.deriver());
    };
  }
}

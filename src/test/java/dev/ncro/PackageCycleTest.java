package dev.ncro;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.net.URISyntaxException;
import java.nio.file.Path;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.spi.ToolProvider;
import org.junit.jupiter.api.Test;

/**
 * The packages of {@code dev.ncro} depend one way: no package reaches, through others, back to
 * itself. Checked on the compiled classes with the running JDK's {@code jdeps} (a real reference
 * in the bytecode, not an import or a javadoc link), so a cycle cannot hide behind a fully
 * qualified name written inline.
 */
class PackageCycleTest {
  /** {@code   dev.ncro.router   -> dev.ncro.route   classes}: one package edge per line. */
  private static final Pattern EDGE =
      Pattern.compile("^\\s+(dev\\.ncro(?:\\.[\\w.]+)?)\\s+->\\s+(dev\\.ncro(?:\\.[\\w.]+)?)\\s");

  @Test
  void noPackageCycleAmongTheCompiledClasses() {
    Map<String, Set<String>> graph = packageGraph();
    // The graph is real: known edges show up, so an empty parse cannot pass as "no cycle".
    assertThat(graph.get("dev.ncro.router")).contains("dev.ncro.route", "dev.ncro.upstream");
    assertThat(graph.get("dev.ncro")).contains("dev.ncro.server", "dev.ncro.mesh");
    assertThat(cycles(graph)).as("package cycles").isEmpty();
  }

  @Test
  void theCheckFindsACycleWhenThereIsOne() {
    // Positive control: the real graph with one edge back (route → router, the reverse of one
    // that exists) must be reported, with exactly the two packages in it.
    Map<String, Set<String>> graph = packageGraph();
    graph.computeIfAbsent("dev.ncro.route", k -> new TreeSet<>()).add("dev.ncro.router");
    assertThat(cycles(graph)).containsExactly(Set.of("dev.ncro.route", "dev.ncro.router"));
  }

  @Test
  void aLongCycleIsFoundWhole() {
    Map<String, Set<String>> graph = new TreeMap<>();
    graph.put("a", new TreeSet<>(Set.of("b")));
    graph.put("b", new TreeSet<>(Set.of("c")));
    graph.put("c", new TreeSet<>(Set.of("a", "d")));
    graph.put("d", new TreeSet<>());
    assertThat(cycles(graph)).containsExactly(Set.of("a", "b", "c"));
  }

  /** Package → the other {@code dev.ncro} packages it refers to, from jdeps over target/classes. */
  private static Map<String, Set<String>> packageGraph() {
    Path classes;
    try {
      classes =
          Path.of(Ncro.class.getProtectionDomain().getCodeSource().getLocation().toURI());
    } catch (URISyntaxException e) {
      throw new AssertionError(e);
    }
    ToolProvider jdeps = ToolProvider.findFirst("jdeps")
        .orElseThrow(() -> new AssertionError("no jdeps in this JDK"));
    StringWriter out = new StringWriter();
    StringWriter err = new StringWriter();
    int rc = jdeps.run(
        new PrintWriter(out),
        new PrintWriter(err),
        "-verbose:package",
        "-filter:none",
        "-e",
        "dev\\.ncro.*",
        classes.toString());
    assertThat(rc).as("jdeps: " + err).isZero();
    Map<String, Set<String>> graph = new TreeMap<>();
    for (String line : out.toString().split("\n")) {
      Matcher m = EDGE.matcher(line);
      if (m.find() && !m.group(1).equals(m.group(2))) {
        graph.computeIfAbsent(m.group(1), k -> new TreeSet<>()).add(m.group(2));
      }
    }
    return graph;
  }

  /** The strongly connected components with more than one package (Tarjan), each a cycle. */
  static List<Set<String>> cycles(Map<String, Set<String>> graph) {
    Map<String, Integer> index = new HashMap<>();
    Map<String, Integer> low = new HashMap<>();
    Deque<String> stack = new ArrayDeque<>();
    Set<String> onStack = new TreeSet<>();
    List<Set<String>> found = new ArrayList<>();
    for (String v : graph.keySet()) {
      if (!index.containsKey(v)) {
        connect(v, graph, index, low, stack, onStack, found);
      }
    }
    return found;
  }

  private static void connect(
      String v,
      Map<String, Set<String>> graph,
      Map<String, Integer> index,
      Map<String, Integer> low,
      Deque<String> stack,
      Set<String> onStack,
      List<Set<String>> found) {
    index.put(v, index.size());
    low.put(v, index.get(v));
    stack.push(v);
    onStack.add(v);
    for (String w : graph.getOrDefault(v, Set.of())) {
      if (!index.containsKey(w)) {
        connect(w, graph, index, low, stack, onStack, found);
        low.put(v, Math.min(low.get(v), low.get(w)));
      } else if (onStack.contains(w)) {
        low.put(v, Math.min(low.get(v), index.get(w)));
      }
    }
    if (low.get(v).equals(index.get(v))) {
      Set<String> component = new TreeSet<>();
      String w;
      do {
        w = stack.pop();
        onStack.remove(w);
        component.add(w);
      } while (!w.equals(v));
      if (component.size() > 1) {
        found.add(component);
      }
    }
  }
}

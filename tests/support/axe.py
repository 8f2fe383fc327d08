"""axe-core in Playwright: the accessibility rules the browser tests hold every page to.

``tests/axe`` pins axe-core in its npm lock file; ``make test`` installs it (``make axe``).
"""

from .services import ROOT

AXE_JS = ROOT / "tests" / "axe" / "node_modules" / "axe-core" / "axe.min.js"
BLOCKING = ("serious", "critical")

# Only what a failure message needs, so a page's result crosses the wire small.
_RUN = """async () => {
  const result = await axe.run(document, { resultTypes: ["violations"] });
  return result.violations.map((v) => ({
    id: v.id, impact: v.impact, help: v.help, helpUrl: v.helpUrl,
    nodes: v.nodes.map((n) => ({ target: n.target.join(" "), summary: n.failureSummary })),
  }));
}"""


def install(context) -> None:
    """Load axe-core into every page the context opens (before the page's own scripts)."""
    if not AXE_JS.exists():
        raise RuntimeError(f"{AXE_JS} is missing: run `make axe` (npm ci in tests/axe)")
    context.add_init_script(path=str(AXE_JS))


def serious(page) -> list[dict]:
    """axe's serious and critical violations on the page as it is now."""
    return [v for v in page.evaluate(_RUN) if v["impact"] in BLOCKING]


def describe(where: str, violations: list[dict]) -> str:
    """A failure message: each violation with the elements it was found on."""
    lines = [f"axe-core on {where}:"]
    for v in violations:
        lines.append(f"  {v['impact']} {v['id']}: {v['help']} ({v['helpUrl']})")
        for node in v["nodes"][:5]:
            summary = " ".join(node["summary"].split())
            lines.append(f"    {node['target']}: {summary}")
        if len(v["nodes"]) > 5:
            lines.append(f"    … and {len(v['nodes']) - 5} more")
    return "\n".join(lines)

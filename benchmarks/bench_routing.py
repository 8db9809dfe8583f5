"""Routing: the cascade against always-frontier and always-cheap, on 20 scripted priorities.

Each strategy runs the real daemon (``code-developer --once --no-pr --priority ID``, a
subprocess: real git, the real agent loop, real verification in the sandbox, the real
openai SDK and ledger) on its own copy of one project, whose roadmap holds 20 priorities
of mixed difficulty (1-10). Each tier is a FakeOpenAI server whose "model" answers every
turn from the conversation it is sent, the way its tier would:

- frontier ($3 / $15 per million tokens in / out): solves everything up to difficulty 9;
  at 10 it writes code that fails its test, and again after the repair round;
- cheap ($0.25 / $2): solves difficulty 1-3; at 4-6 it solves one in three, writes broken
  code one in three (failing after the repair round too) and gives up one in three; at
  7-10 it either loops (the same failing edit until the stuck detector stops it) or
  writes broken code.

Tokens are counted from what is really sent (the request's size / 4) and what the
"model" writes, so a longer conversation (repairs, a loop, the lessons an escalation
passes on) costs more, at each tier's price, through the real ledger. Solved means the
daemon's own verdict: the state records a success. The cascade is ``routing.tiers:
[[cheap], [frontier]]`` with one rule (``complexity_at_least: 8`` starts at the
frontier); the roadmap's ``**Complexity**:`` lines are its author's estimates (the true
difficulty give or take one). The same cascade without the rule runs too, to show what
the rule is worth.

    python benchmarks/bench_routing.py          # about 2-4 minutes on 2 cores
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

from coffee_maker.fakes.openai import FakeOpenAI
from coffee_maker.fakes.scripted import ScriptedCall, Turn
from coffee_maker.fakes.server import RecordedRequest, Reply

KEY = "sk-bench-routing-0123456789abcdef"
MODEL = "bench-model"
CODE_DEVELOPER = str(Path(sys.executable).with_name("code-developer"))
TEST_COMMAND = "python3 -m unittest discover -s tests -q"
#: (difficulty) of PRIORITY 1..20: mostly small work, some medium, a few hard.
DIFFICULTY = [1, 2, 3, 2, 5, 1, 4, 3, 6, 2, 7, 5, 3, 8, 4, 9, 2, 6, 10, 3]
PRICES = {"cheap": (0.25, 2.0), "frontier": (3.0, 15.0)}


def behaviour(tier: str, n: int) -> str:
    d = DIFFICULTY[n - 1]
    if tier == "frontier":
        return "solve" if d <= 9 else "broken"
    if d <= 3:
        return "solve"
    if d <= 6:
        return ("solve", "broken", "give up")[n % 3]
    return ("loop", "broken")[n % 2]


def estimate(n: int) -> int:
    """The roadmap author's **Complexity** line: the true difficulty, give or take one."""
    return max(1, min(10, DIFFICULTY[n - 1] + n % 3 - 1))


def solution(n: int, broken: bool = False, worse: bool = False) -> str:
    body = f"x * {n} + {n}" + (" + 1" if broken else "") + (" + 2" if worse else "")
    return f'def feature_{n:02d}(x):\n    """The {n}th feature."""\n    return {body}\n'


def test_of(n: int) -> str:
    return (
        f"import unittest\n\nfrom feature_{n:02d} import feature_{n:02d}\n\n\n"
        f"class Feature{n:02d}Test(unittest.TestCase):\n"
        f"    def test_it(self):\n        self.assertEqual(feature_{n:02d}(3), {3 * n + n})\n"
    )


class TierModel(FakeOpenAI):
    """A scripted model of one tier: each turn follows from the conversation it is sent."""

    def __init__(self, tier: str) -> None:
        super().__init__(api_key=KEY, models=[MODEL])
        self.tier = tier

    def default_reply(self, request: RecordedRequest) -> Reply:
        if not self.is_model_call(request):
            return super().default_reply(request)
        body = request.json or {}
        messages = body.get("messages", [])
        task = next((str(m.get("content")) for m in messages if m.get("role") == "user"), "")
        n = next((i for i in range(1, 21) if f"feature_{i:02d}(x)" in task), 1)
        k = sum(1 for m in messages if m.get("role") == "assistant")
        calls = self.turn(behaviour(self.tier, n), n, k)
        written = sum(len(json.dumps(c.arguments)) for c in calls)
        turn = Turn(
            text="Working on it.",
            tool_calls=calls,
            input_tokens=len(request.body) // 4,
            output_tokens=150 + written // 4,
        )
        return self.render_turn(turn, request)

    @staticmethod
    def turn(kind: str, n: int, k: int) -> list[ScriptedCall]:
        module, test = f"feature_{n:02d}.py", f"tests/test_feature_{n:02d}.py"
        if k == 0:
            return [ScriptedCall("read_file", {"path": "calc.py"})]
        if kind == "give up":
            return [ScriptedCall("finish", {"summary": "This is beyond what I can do here."})]
        if kind == "loop":  # the same failing edit, again and again
            edit = {"path": module, "old_text": "return None", "new_text": "return x"}
            return [ScriptedCall("edit_file", edit)]
        broken = kind == "broken"
        if k == 1:
            return [
                ScriptedCall("write_file", {"path": module, "content": solution(n, broken)}),
                ScriptedCall("write_file", {"path": test, "content": test_of(n)}),
            ]
        if k == 2:
            return [ScriptedCall("run_tests", {})]
        if k == 4 and broken:  # the repair round: another wrong guess
            return [
                ScriptedCall("write_file", {"path": module, "content": solution(n, worse=True)})
            ]
        return [ScriptedCall("finish", {"summary": f"Added feature_{n:02d}."})]


def git(cwd: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True)


def make_project(root: Path) -> tuple[Path, Path]:
    seed, origin, checkout = root / "seed", root / "origin.git", root / "checkout"
    (seed / "tests").mkdir(parents=True)
    git(seed, "init", "-q", "-b", "main")
    (seed / "calc.py").write_text("def add(a, b):\n    return a + b\n")
    (seed / "tests" / "test_calc.py").write_text(
        "import unittest\n\nfrom calc import add\n\n\nclass AddTest(unittest.TestCase):\n"
        "    def test_add(self):\n        self.assertEqual(add(2, 3), 5)\n"
    )
    sections = ["# Roadmap\n"]
    for n in range(1, len(DIFFICULTY) + 1):
        sections.append(
            f"## PRIORITY {n}: Add feature {n} 📝\n\n**Status**: 📝 Planned\n"
            f"**Complexity**: {estimate(n)}\n\nAdd `feature_{n:02d}(x)` in feature_{n:02d}.py, "
            f"returning x * {n} + {n}, with a test.\n"
        )
    (seed / "ROADMAP.md").write_text("\n".join(sections))
    git(seed, "add", ".")
    git(seed, "-c", "user.name=B", "-c", "user.email=b@example.com", "commit", "-qm", "seed")
    git(root, "init", "-q", "--bare", "-b", "main", str(origin))
    git(seed, "push", "-q", str(origin), "main")
    git(root, "clone", "-q", str(origin), str(checkout))
    return checkout, root / "home"


def write_config(
    path: Path, servers: dict[str, TierModel], tiers: list[list[str]], rules: bool
) -> None:
    providers = {
        name: {
            "type": "openai",
            "model": MODEL,
            "base_url": f"{server.url}/v1",
            "api_key_env": "OPENAI_API_KEY",
            "pricing": {"input": PRICES[name][0], "output": PRICES[name][1]},
        }
        for name, server in servers.items()
    }
    data: dict[str, Any] = {
        "default_provider": tiers[0][0],
        "providers": providers,
        "fallback": {"retry_attempts": 1, "retry_delay": 0.0},
        "agent": {"max_repairs": 1, "max_steps": 20},
        "daemon": {"test_command": TEST_COMMAND},
        "routing": {"tiers": tiers},
    }
    if rules:
        data["routing"]["rules"] = [{"complexity_at_least": 8, "start_tier": 1}]
    path.write_text(yaml.safe_dump(data, sort_keys=False))


def run_strategy(name: str, tiers: list[list[str]], rules: bool, root: Path) -> dict[str, Any]:
    checkout, home = make_project(root / name)
    config = root / name / "config.yaml"
    gitconfig = root / "gitconfig"
    gitconfig.touch()
    env = dict(os.environ, COFFEE_MAKER_HOME=str(home), OPENAI_API_KEY=KEY,
               GIT_CONFIG_GLOBAL=str(gitconfig), GIT_CONFIG_NOSYSTEM="1")  # fmt: skip
    rows = []
    with TierModel("cheap") as cheap, TierModel("frontier") as frontier:
        write_config(config, {"cheap": cheap, "frontier": frontier}, tiers, rules)
        started = time.perf_counter()
        for n in range(1, len(DIFFICULTY) + 1):
            subprocess.run(
                [CODE_DEVELOPER, "--repo", str(checkout), "--config", str(config), "--once",
                 "--no-pr", "--priority", f"PRIORITY {n}"],
                env=env, capture_output=True, text=True, timeout=300,
            )  # fmt: skip
            state = json.loads((checkout / ".git" / "coffee-maker" / "state.json").read_text())
            record = state["priorities"].get(f"PRIORITY {n}", {})
            entry = (record.get("history") or [{}])[-1]
            tried = [t["label"] for t in (entry.get("routing") or {}).get("tiers", [])]
            rows.append((record.get("last_outcome") == "success", tried))
        seconds = time.perf_counter() - started
    calls = [json.loads(line) for line in (home / "ledger.jsonl").read_text().splitlines()]
    cost = sum(c["cost"] for c in calls if c.get("kind") == "call")
    by_task: dict[int, float] = {}
    for c in calls:
        if c.get("kind") == "call" and c.get("task_id"):
            n = int(c["task_id"].split(":")[1].removeprefix("PRIORITY "))
            by_task[n] = by_task.get(n, 0.0) + c["cost"]
    solved = sum(1 for ok, _ in rows if ok)
    return {"name": name, "rows": rows, "cost": cost, "solved": solved, "seconds": seconds,
            "by_task": by_task}  # fmt: skip


def main() -> None:
    strategies = [
        ("always-frontier", [["frontier"]], False),
        ("always-cheap", [["cheap"]], False),
        ("cascade", [["cheap"], ["frontier"]], True),
        ("cascade, no rules", [["cheap"], ["frontier"]], False),
    ]
    with tempfile.TemporaryDirectory(prefix="bench-routing-") as tmp:
        results = [run_strategy(*strategy, Path(tmp)) for strategy in strategies]
    print("tiers tried: c = cheap, f = frontier; d = difficulty, e = the roadmap's estimate")
    print(f"{'':>4} {'d':>2} {'e':>2}  " + "  ".join(f"{r['name'][:17]:>17}" for r in results))
    for n, d in enumerate(DIFFICULTY, start=1):
        cells = []
        for r in results:
            ok, tried = r["rows"][n - 1]
            short = ">".join(t[0] for t in tried)  # c: cheap, f: frontier
            cells.append(f"{'ok' if ok else 'FAIL':>4} ${r['by_task'].get(n, 0):.4f} {short:<3}")
        print(f"P{n:<3} {d:>2} {estimate(n):>2}  " + "  ".join(cells))
    print()
    print(f"{'strategy':<18} {'solved':>7} {'cost':>9} {'per solved':>11} {'wall':>7}")
    for r in results:
        per = r["cost"] / r["solved"] if r["solved"] else float("nan")
        print(f"{r['name']:<18} {r['solved']:>4}/{len(DIFFICULTY)} ${r['cost']:>8.4f} "
              f"${per:>10.4f} {r['seconds']:>6.1f}s")  # fmt: skip
    frontier, cheap, cascade, plain = results
    ratio = cascade["cost"] / frontier["cost"]
    print()
    print(f"cascade cost / always-frontier cost: {ratio:.2f} (target <= 0.50); without its "
          f"rule: {plain['cost'] / frontier['cost']:.2f}, solving {plain['solved']}")  # fmt: skip
    print(f"cascade solved {cascade['solved']}, always-frontier {frontier['solved']} "
          f"(target: as many), always-cheap {cheap['solved']}")  # fmt: skip
    met = cascade["solved"] >= frontier["solved"] and ratio <= 0.5
    print("target met" if met else "target NOT met")


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Record the example fleet's cassettes for two models per agent, without any real model.

NO REAL MODEL IS CALLED. The answers come from a *scripted reference responder*: a local
OpenAI-compatible server (stdlib http.server, 127.0.0.1, a free port) that reads the eval
case out of each request and answers deterministically:

1. It finds the case by the user message (the case input as the builtin runner sends it).
2. It calls each of the case's ``expect.tool_calls`` in order, one per turn. Arguments are
   the literal expected values; for ``{one_of: [...]}`` the first option; for
   ``{regex: ...}`` a concrete value from a fixture of the same tool whose args fit, else a
   string in the case input's context that fits, else the shortest example string of the
   regex (``example``: first alternative, minimum repeats; padded with a short text when
   the schema's minLength asks for it and the regex still matches), else the argument is
   left out. Required arguments still missing are filled from the tool's schema as sent
   in the request (grant constraints folded in): const, else the first enum value, else a
   short text.
3. For outcome ``escalated``, it calls the agent's ``contract.escalation.tool`` if step 2
   did not (arguments from the schema as above).
4. It answers with a final text holding every ``expect.output.contains`` string and an
   example string of every ``expect.output.regex``; for outcome ``refused`` the text
   begins with "I can't help with that".

Usage tokens are rough: len(JSON of messages and tools) / 4 in, len(JSON of the answer) / 4
out. The *degraded* variant (used for model B) skips every call to the escalation tool
on escalated cases, so ``alm eval compare`` has a real regression to find.

Model A is each agent's declared model (recorded in place); model B is ``MODEL_B``, recorded
on a temporary copy of the fleet where only ``model.name`` is swapped, then copied back.
Every cassette's provenance says it came from this script, not from the named model
(``ALM_CASSETTE_PROVENANCE``). Synthetic demo data.

Usage: .venv/bin/python scripts/record_cassettes.py [--agent NAME ...]
       .venv/bin/python scripts/record_cassettes.py --into REPO --agent NAME [--degraded]
         (re-record only the agent's declared model in another checkout, as a pull request
         that changes an agent would; --degraded answers as model B does)
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

try:  # the regex parser, to write an example string of a pattern
    import re._parser as re_parser  # type: ignore[import-not-found]  # Python 3.11+
except ImportError:  # pragma: no cover
    import sre_parse as re_parser  # type: ignore[no-redef]

from reconciler.evals.runners.functions import function_name, tool_name, user_message  # noqa: E402
from reconciler.spec.evalsuite import Case  # noqa: E402
from reconciler.spec.loader import load_worktree  # noqa: E402

MODEL_B = "gpt-4.1-nano"
FLEET = ("agents", "policies", "evals")
SHORT_TEXT = "Needs a human decision under the agent's escalation rules."
REFUSAL = "I can't help with that"


def provenance(degraded: bool) -> dict[str, Any]:
    return {
        "produced_by": "scripted reference responder in scripts/record_cassettes.py",
        "responder_variant": "degraded (skips escalation)" if degraded else "reference",
        "real_model_called": False,
        "synthetic": True,
        "note": (
            "Synthetic demo data: produced by the scripted reference responder in "
            "scripts/record_cassettes.py, NOT by the named model."
        ),
    }


# --- the scripted reference responder ---------------------------------------------------


def _fits(value: Any, pattern: str) -> bool:
    return isinstance(value, str) and re.search(pattern, value) is not None


def _context_strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in _context_strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in _context_strings(v)]
    return []


def example(pattern: str) -> str | None:
    """A short string that ``re.search(pattern, ...)`` finds, or None (not generated)."""
    flags = re.compile(pattern).flags
    try:
        text = _example(re_parser.parse(pattern, flags))
    except _NoExample:
        return None
    return text if re.search(pattern, text) else None


class _NoExample(Exception):
    pass


_CATEGORY = {"CATEGORY_DIGIT": "0", "CATEGORY_WORD": "a", "CATEGORY_SPACE": " "}


def _example(parsed: Any) -> str:
    out = []
    for op, arg in parsed:
        name = str(op)
        if name == "LITERAL":
            out.append(chr(arg))
        elif name == "ANY":
            out.append("x")
        elif name == "IN":
            out.append(_example_in(arg))
        elif name == "BRANCH":
            out.append(_example(arg[1][0]))
        elif name == "SUBPATTERN":
            out.append(_example(arg[-1]))
        elif name in ("MAX_REPEAT", "MIN_REPEAT", "POSSESSIVE_REPEAT"):
            low, _high, item = arg
            out.append(_example(item) * low)
        elif name in ("AT", "ASSERT_NOT"):
            continue
        else:
            raise _NoExample(name)
    return "".join(out)


def _example_in(items: Any) -> str:
    op, arg = items[0]
    name = str(op)
    if name == "NEGATE":
        raise _NoExample(name)
    if name == "LITERAL":
        return chr(arg)
    if name == "RANGE":
        return chr(arg[0])
    if name == "CATEGORY" and str(arg) in _CATEGORY:
        return _CATEGORY[str(arg)]
    raise _NoExample(name)


def concrete_args(
    case: Case, tool: str, expected: dict[str, Any], schema: dict[str, Any]
) -> dict[str, Any]:
    args: dict[str, Any] = {}
    for name, want in expected.items():
        if isinstance(want, dict) and set(want) == {"one_of"}:
            args[name] = want["one_of"][0]
        elif isinstance(want, dict) and set(want) == {"regex"}:
            found = [
                f.args[name]
                for f in case.fixtures
                if f.tool == tool and name in f.args and _fits(f.args[name], want["regex"])
            ]
            found += [s for s in _context_strings(case.input.context) if _fits(s, want["regex"])]
            made = example(want["regex"])
            if made is not None:
                min_length = schema.get("properties", {}).get(name, {}).get("minLength", 0)
                padded = f"{made} - {SHORT_TEXT}"
                if len(made) < min_length and _fits(padded, want["regex"]):
                    made = padded
                found.append(made)
            if found:
                args[name] = found[0]
        else:
            args[name] = want
    return args


def fill_required(args: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    """Required arguments still missing, from the (narrowed) schema."""
    properties = schema.get("properties", {})
    for name in schema.get("required", []):
        if name in args:
            continue
        prop = properties.get(name, {})
        if "const" in prop:
            args[name] = prop["const"]
        elif prop.get("enum"):
            args[name] = prop["enum"][0]
        elif prop.get("type", "string") == "string":
            args[name] = SHORT_TEXT
    return args


def plan(
    case: Case, escalation_tool: str | None, degraded: bool, schemas: dict[str, dict[str, Any]]
) -> list[dict[str, Any]]:
    """The assistant turns of a case: one tool call per turn, then the final text."""
    escalated = case.expect.outcome == "escalated"
    calls = [
        (c.tool, concrete_args(case, c.tool, c.args, schemas.get(c.tool, {})))
        for c in case.expect.tool_calls
    ]
    if escalated and escalation_tool and all(t != escalation_tool for t, _ in calls):
        calls.append((escalation_tool, {}))
    if degraded and escalated:
        calls = [(t, a) for t, a in calls if t != escalation_tool]
    output = case.expect.output
    contains = [*output.contains] if output else []
    for pattern in output.regex if output else []:
        made = example(pattern)
        if made is not None:
            contains.append(made)
    text = " ".join(["Done.", *contains])
    if case.expect.outcome == "refused":
        text = f"{REFUSAL}. {text}"
    elif escalated and not degraded:
        text = f"{text} Escalated to a human."
    return [*({"call": c} for c in calls), {"content": text}]


class Responder:
    def __init__(self, root: Path, agent: str, degraded: bool) -> None:
        state = load_worktree(root)
        spec = next(s for s in state.agents if s.name == agent)
        escalation = spec.agent.contract.escalation
        self.escalation_tool = escalation.tool if escalation else None
        self.degraded = degraded
        self.cases: dict[str, Case] = {}
        for loaded in state.suites.get(spec.folder, []):
            for case in loaded.model.cases:
                key = user_message(case.input)["content"]
                if key in self.cases:
                    raise SystemExit(f"{agent}: two cases send the same user message: {key!r}")
                self.cases[key] = case

    def answer(self, body: dict[str, Any]) -> dict[str, Any]:
        messages = body.get("messages", [])
        user = next(m["content"] for m in messages if m.get("role") == "user")
        case = self.cases[user]
        turn = sum(1 for m in messages if m.get("role") == "assistant")
        schemas = {
            tool_name(t["function"]["name"]): t["function"].get("parameters", {})
            for t in body.get("tools", [])
        }
        steps = plan(case, self.escalation_tool, self.degraded, schemas)
        step = steps[min(turn, len(steps) - 1)]
        message: dict[str, Any] = {"role": "assistant", "content": step.get("content")}
        if "call" in step:
            tool, args = step["call"]
            args = fill_required(dict(args), schemas.get(tool, {}))
            message["tool_calls"] = [
                {
                    "id": f"call_{turn}",
                    "type": "function",
                    "function": {"name": function_name(tool), "arguments": json.dumps(args)},
                }
            ]
        prompt = len(json.dumps([messages, body.get("tools", [])])) // 4
        completion = max(1, len(json.dumps(message)) // 4)
        return {
            "id": f"chatcmpl-scripted-{turn}",
            "object": "chat.completion",
            "created": 0,
            "model": body.get("model", "unknown"),
            "choices": [
                {
                    "index": 0,
                    "message": message,
                    "finish_reason": "tool_calls" if "call" in step else "stop",
                }
            ],
            "usage": {
                "prompt_tokens": prompt,
                "completion_tokens": completion,
                "total_tokens": prompt + completion,
            },
        }


def serve(responder: Responder) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers.get("content-length", "0"))))
            try:
                status, payload = 200, responder.answer(body)
            except Exception as exc:  # a bug here must show, not hang the client
                status, payload = 500, {"error": {"message": repr(exc)}}
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


# --- recording ----------------------------------------------------------------------------


def record(root: Path, agent: str, degraded: bool) -> None:
    server = serve(Responder(root, agent, degraded))
    try:
        env = {
            **os.environ,
            "ALM_OPENAI_BASE_URL": f"http://127.0.0.1:{server.server_address[1]}/v1",
            "OPENAI_API_KEY": "sk-dummy-no-real-model",
            "ALM_CASSETTE_PROVENANCE": json.dumps(provenance(degraded)),
        }
        code = "import sys; from reconciler.cli import main; sys.exit(main(sys.argv[1:]))"
        argv = ["-C", str(root), "eval", "--agent", agent, "--mode", "record", "--no-cache"]
        done = subprocess.run([sys.executable, "-c", code, *argv], env=env, cwd=ROOT)
        print(f"recorded {agent} (exit {done.returncode}: 1 means a gate did not pass)")
    finally:
        server.shutdown()
        server.server_close()


def declared_model(root: Path, agent: str) -> str:
    state = load_worktree(root)
    return next(s.agent.model.name for s in state.agents if s.name == agent)


def _clear(folder: Path) -> None:
    for old in folder.glob("*.json"):
        old.unlink()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--agent", action="append", help="only this agent (repeatable)")
    parser.add_argument("--into", type=Path, help="record the declared model in this checkout")
    parser.add_argument("--degraded", action="store_true", help="with --into: as model B")
    args = parser.parse_args()
    if args.into is not None:
        for agent in args.agent or []:
            _clear(args.into / "evals" / agent / "cassettes")
            record(args.into.resolve(), agent, degraded=args.degraded)
        return
    agents = args.agent or sorted(s.name for s in load_worktree(ROOT).agents)
    for agent in agents:
        folder = ROOT / "evals" / agent / "cassettes"
        _clear(folder)
        model_a = declared_model(ROOT, agent)
        print(f"{agent}: model A {model_a} (reference), model B {MODEL_B} (degraded)")
        record(ROOT, agent, degraded=False)
        _record_model_b(agent, model_a, folder)
        print(f"{agent}: {len(list(folder.glob('*.json')))} cassettes")


def _record_model_b(agent: str, model_a: str, folder: Path) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        copy = Path(tmp)
        for name in FLEET:
            shutil.copytree(ROOT / name, copy / name)
        spec = copy / "agents" / agent / "agent.yaml"
        text = spec.read_text("utf-8")
        swapped = re.sub(
            r"(?m)^(model:\n(?:  .*\n)*?  name: )\S+$", rf"\g<1>{MODEL_B}", text, count=1
        )
        if swapped == text and model_a != MODEL_B:
            raise SystemExit(f"{spec}: could not swap model.name")
        spec.write_text(swapped, "utf-8")
        record(copy, agent, degraded=True)
        for cassette in (copy / "evals" / agent / "cassettes").glob("*.json"):
            if json.loads(cassette.read_text("utf-8"))["request"]["model"] == MODEL_B:
                shutil.copy2(cassette, folder / cassette.name)


if __name__ == "__main__":
    main()

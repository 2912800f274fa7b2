"""Find secrets in spec, prompt and eval files. A finding never echoes the secret.

Two kinds of detectors: token shapes that are secrets wherever they appear
(provider API keys, GitHub tokens, private keys), and high-entropy values
assigned to fields whose name says they hold a secret (`api_key: ...`).
"""

from __future__ import annotations

import bisect
import math
import re
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass

from reconciler.errors import Finding, Location
from reconciler.policy.secretvalues import loaded_scalars


@dataclass(frozen=True)
class Detector:
    name: str
    description: str
    pattern: str  # the whole token, matched where _CANDIDATE found its start


DETECTORS: list[Detector] = [
    Detector("private-key", "a private key", r"-----BEGIN[A-Z ]{0,30} PRIVATE KEY(?: BLOCK)?-----"),
    Detector("anthropic", "an Anthropic API key", r"sk-ant-[a-z]{3,8}\d{0,3}-[\w-]{20,}"),
    Detector("openai", "an OpenAI API key", r"sk-(?:proj-|svcacct-|admin-)?[\w-]{20,}"),
    Detector("github", "a GitHub token", r"gh[pousr]_[A-Za-z0-9]{36,}"),
    Detector("github-pat", "a GitHub token", r"github_pat_\w{40,}"),
    Detector("aws", "an AWS access key id", r"A(?:KIA|SIA)[0-9A-Z]{16}\b"),
    Detector("google", "a Google API key", r"AIza[\w-]{35}"),
    Detector("slack", "a Slack token", r"xox[abposr]-[0-9A-Za-z-]{10,}"),
    Detector("stripe", "a Stripe secret key", r"[rs]k_live_[0-9A-Za-z]{20,}"),
]
# Where a detector's pattern may start: a literal alternation, scanned many times
# faster than the detectors (tokens must also start a word; checked after).
_CANDIDATE = re.compile(r"-----BEGIN|sk-|gh[pousr]_|github_pat_|A(?:KIA|SIA|Iza)|xox|k_live_")
_WORD = re.compile(r"\w", re.ASCII)  # bytes read as Latin-1 must not hide a token
_COMPILED = [(d, re.compile(d.pattern)) for d in DETECTORS]

# Field names that hold secrets, searched in lower-cased text (case-insensitive
# regular expressions are many times slower); the value follows the name.
_SECRET_NAME = re.compile(
    r"pass(?:word|wd)|secret|token|api[_-]?key|access[_-]key|private[_-]key|credential"
    r"|auth_header|bearer"
)
_VALUE = re.compile(r"""[\w.-]*["']?\s*[:=]\s*(?:bearer\s+)?["']?([^\s"',}\]#]{16,})""")
_NAME_CHARS = re.compile(r"[\w.-]*$")
_PLACEHOLDER = re.compile(r"\$\{|\{\{|<[^>]*>|^x+$|\*{3,}|example|changeme|redacted|your")
MIN_ENTROPY = 3.5  # bits per character; random base64 is ~6, English words ~3


def entropy(text: str) -> float:
    counts = Counter(text)
    return -sum(n / len(text) * math.log2(n / len(text)) for n in counts.values())


def _high_entropy(value: str) -> bool:
    if _PLACEHOLDER.search(value):
        return False
    has_digit = any(c.isdigit() for c in value)
    has_alpha = any(c.isalpha() for c in value)
    return has_digit and has_alpha and entropy(value) >= MIN_ENTROPY


def _message(description: str, length: int) -> str:
    return (
        f"possible {description} ({length} characters, not shown); expected secrets in a "
        "secret store or the environment, never in the repository (rotate it if it is real)"
    )


class _Lines:
    def __init__(self, text: str) -> None:
        self.starts = [0, *(m.end() for m in re.finditer("\n", text))]

    def at(self, offset: int) -> tuple[int, int]:
        line = bisect.bisect_right(self.starts, offset)
        return line, offset - self.starts[line - 1] + 1


def _tokens(text: str) -> list[tuple[Detector, int, int]]:
    hits: list[tuple[Detector, int, int]] = []
    for candidate in _CANDIDATE.finditer(text):
        pos = candidate.start() - (candidate.group() == "k_live_")  # [rs]k_live_
        if pos and text[pos] != "-" and _WORD.match(text, pos - 1):
            continue
        for detector, regex in _COMPILED:
            match = regex.match(text, pos)
            if match is not None:
                hits.append((detector, pos, match.end() - pos))
                break
    return hits


def _assigned(text: str, lower: str) -> list[tuple[str, int, int]]:
    """(field name, offset, length) of high-entropy values assigned to secret-named fields."""
    hits: list[tuple[str, int, int]] = []
    for name in _SECRET_NAME.finditer(lower):
        value = _VALUE.match(lower, name.end())
        if value is None:
            continue
        start, end = value.span(1)
        if not _high_entropy(text[start:end]):
            continue
        head = _NAME_CHARS.search(text, 0, name.start())
        key_start = head.start() if head else name.start()
        key = text[key_start : value.start(1)].split(":")[0].split("=")[0].strip(" \"'")
        hits.append((key, start, end - start))
    return hits


def scan_text(path: str, text: str) -> list[Finding]:
    tokens, assigned = _tokens(text), _assigned(text, text.lower())
    if not tokens and not assigned:
        return []
    lines = _Lines(text)
    findings: list[Finding] = []
    hit_lines: set[int] = set()
    for detector, offset, length in tokens:
        line, column = lines.at(offset)
        hit_lines.add(line)
        message = _message(detector.description, length)
        findings.append(Finding(f"secret/{detector.name}", message, Location(path, line, column)))
    for key, offset, length in assigned:
        line, column = lines.at(offset)
        if line not in hit_lines:
            message = _message(f"secret in {key!r}", length)
            findings.append(Finding("secret/high-entropy", message, Location(path, line, column)))
    return findings


def scan(files: Mapping[str, bytes | None]) -> list[Finding]:
    """Every file's findings; files over the size limit (None) are not read."""
    findings: list[Finding] = []
    for path in sorted(files):
        data = files[path]
        if data is not None:
            findings.extend(scan_file(path, data))
    return findings


def scan_file(path: str, data: bytes) -> list[Finding]:
    """The raw text, then what loading the file would make of it (escapes, joined lines)."""
    if b"\0" in data:
        return _scan_bytes(path, data)
    text = data.decode("utf-8", "replace")
    findings = scan_text(path, text)
    return findings + _scan_loaded(path, text, findings)


def _scan_bytes(path: str, data: bytes) -> list[Finding]:
    """A file with a NUL byte is scanned as bytes, not skipped: as Latin-1 (one character a
    byte, so ASCII tokens and line numbers stay put), and without its NULs (UTF-16 text)."""
    findings = scan_text(path, data.decode("latin-1"))
    seen = {(f.code, f.location.line) for f in findings}
    narrow = data.replace(b"\0", b"").removeprefix(b"\xff\xfe").removeprefix(b"\xfe\xff")
    for finding in scan_text(path, narrow.decode("latin-1")):
        if (finding.code, finding.location.line) not in seen:
            findings.append(finding)
    return findings


def _scan_loaded(path: str, text: str, raw: list[Finding]) -> list[Finding]:
    """Secrets only the loaded values show, each at its scalar's line (and once: a secret
    the raw text already showed within the scalar's lines is not repeated)."""
    found_raw = {(f.code, f.location.line) for f in raw}
    findings: list[Finding] = []
    for scalar in loaded_scalars(path, text):
        shown = scalar.value if scalar.key is None else f"{scalar.key}: {scalar.value}"
        first = {f.code: f.message for f in reversed(scan_text(path, shown))}  # one a kind
        lines = range(scalar.line, scalar.end_line + 1)
        for code, message in first.items():
            if not any((code, line) in found_raw for line in lines):
                findings.append(Finding(code, message, Location(path, scalar.line, scalar.column)))
    return findings

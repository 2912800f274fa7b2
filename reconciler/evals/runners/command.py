"""The command runner: a team's own agent as a subprocess speaking alm.agent/v1 as JSON lines.

One process per trial, started in its own process group (session) in the agent's folder,
with ALM_AGENT, ALM_CASE and ALM_TRIAL added to the environment. alm writes one JSON
object per line to its stdin and reads one per line from its stdout; stderr is free for
logs (its tail is kept for error messages). A malformed line, a crash, a non-zero exit or
the timeout end the trial with stop_reason error or timeout; on timeout (or any other
end) the whole process group is killed, so grandchildren do not outlive the trial.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
from collections.abc import Mapping
from pathlib import Path

from reconciler.evals.runners.base import AgentProtocolError, fail, run_bounded
from reconciler.evals.runners.protocol import Conversation, Message
from reconciler.evals.safejson import JsonRefused, NotJson, loads
from reconciler.evals.types import CaseJob, Trajectory

MAX_LINE_BYTES = 16 * 1024 * 1024
STDERR_TAIL_BYTES = 2000
EXIT_GRACE_S = 5.0


class CommandRunner:
    def __init__(
        self,
        command: list[str],
        workdir: Path | None = None,
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.command = command
        self.workdir = workdir
        self.env = env

    async def run(self, job: CaseJob) -> Trajectory:
        return await run_bounded(job, lambda trajectory: self._trial(job, trajectory))

    async def _trial(self, job: CaseJob, trajectory: Trajectory) -> None:
        process = await self._start(job)
        stderr = _Tail()
        reader = asyncio.create_task(stderr.drain(process.stderr))
        try:
            await Conversation(job, LinesTransport(process, stderr), trajectory).run()
            code = await _finish(process)
            if code != 0 and trajectory.stop_reason == "final":
                fail(trajectory, f"the agent exited with code {code} after its final message")
        finally:
            _kill_group(process)
            reader.cancel()
            await process.wait()

    async def _start(self, job: CaseJob) -> asyncio.subprocess.Process:
        env = {**(os.environ if self.env is None else self.env)}
        env.update(ALM_AGENT=job.agent.name, ALM_CASE=job.case.id, ALM_TRIAL=str(job.trial))
        try:
            return await asyncio.create_subprocess_exec(
                *self.command,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                cwd=self.workdir,
                env=env,
                start_new_session=True,
                limit=MAX_LINE_BYTES,
            )
        except OSError as exc:
            raise AgentProtocolError(f"cannot start the agent {self.command[0]!r}: {exc}") from None


class LinesTransport:
    """alm.agent/v1 over a subprocess's stdin and stdout, one JSON object per line."""

    def __init__(self, process: asyncio.subprocess.Process, stderr: _Tail) -> None:
        self.process = process
        self.stderr = stderr
        self.line = 0

    async def send(self, message: Message) -> Message:
        stdin, stdout = self.process.stdin, self.process.stdout
        assert stdin is not None and stdout is not None
        try:
            stdin.write(json.dumps(message, ensure_ascii=False).encode() + b"\n")
            await stdin.drain()
        except (BrokenPipeError, ConnectionResetError):
            raise await self._ended() from None
        try:
            raw = await stdout.readline()
        except ValueError:  # a line longer than the limit
            raise AgentProtocolError(f"stdout line {self.line + 1} is too long") from None
        if not raw:
            raise await self._ended()
        self.line += 1
        return parse_message(raw, f"stdout line {self.line}")

    async def _ended(self) -> AgentProtocolError:
        try:
            code = await asyncio.wait_for(self.process.wait(), EXIT_GRACE_S)
        except TimeoutError:
            return AgentProtocolError("the agent closed its stdout without a final message")
        return AgentProtocolError(
            f"the agent exited with code {code} before its final message{self.stderr.quote()}"
        )


def parse_message(raw: bytes, where: str) -> Message:
    try:
        message = loads(raw)
    except NotJson:
        text = raw[:200].decode("utf-8", "replace").strip()
        raise AgentProtocolError(f"{where} is not JSON: {text!r}") from None
    except JsonRefused as exc:  # deep nesting, NaN, not UTF-8: refused before anything recurses
        raise AgentProtocolError(f"{where}: {exc}") from None
    if not isinstance(message, dict):
        raise AgentProtocolError(f"{where} expected a JSON object")
    return message


class _Tail:
    """The last bytes of a stream, read continuously so the agent never blocks on it."""

    def __init__(self) -> None:
        self.data = b""

    async def drain(self, stream: asyncio.StreamReader | None) -> None:
        if stream is None:
            return
        while chunk := await stream.read(65536):
            self.data = (self.data + chunk)[-STDERR_TAIL_BYTES:]

    def quote(self) -> str:
        text = self.data.decode("utf-8", "replace").strip()
        return f"; stderr: {text[-500:]}" if text else ""


async def _finish(process: asyncio.subprocess.Process) -> int:
    """After the final message: close stdin and give the agent a moment to exit."""
    if process.stdin is not None:
        process.stdin.close()
    try:
        return await asyncio.wait_for(process.wait(), EXIT_GRACE_S)
    except TimeoutError:
        return 0  # it answered; lingering is not a failure, the group is killed next


def _kill_group(process: asyncio.subprocess.Process) -> None:
    """Kill the agent's whole process group, grandchildren included."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)

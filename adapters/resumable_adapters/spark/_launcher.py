"""``SparkSubmitLauncher``: runs the real ``spark-submit`` once, bounded, and reports what it proves.

The only thing a failed launch can prove is that nothing was created, and only in a few
cases: the launcher could not be started at all, or spark-submit refused its own
arguments (``Error: ...`` followed by its usage text) before contacting any cluster.
Those are ``SubmissionRejected``. Everything else that goes wrong (a non-zero exit after
the cluster was contacted, a timeout, a signal) may have left an application behind, so
it is a ``TransientError``: the core keeps the intent and looks the reference up.
Cluster-specific readings of the output (a Kubernetes 409, a YARN application id) are
the adapters' (``_kubernetes``, ``_yarn``).

The Spark properties go to a private properties file (mode 0600 in a 0700 directory,
removed afterwards) with ``--load-spark-defaults``, so no value sits on a command line
that ``ps`` shows, and ``spark-defaults.conf`` still applies as with a plain spark-submit.
On Linux the child gets ``PR_SET_PDEATHSIG``: a launch whose caller was SIGKILLed dies
too, instead of submitting after the caller's retry already looked the reference up.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from resumable_core import InvalidArgument, SubmissionRejected, TransientError
from resumable_core.redaction import redact

from ._submission import mask_values

log = logging.getLogger("resumable_adapters.spark")

_USAGE = "Usage: spark-submit"
_ERROR_LINE = re.compile(r"^Error: (.+)$", re.MULTILINE)
_EXCEPTION_LINE = re.compile(r"^(?:Caused by: |Exception in thread \"[^\"]*\" )?[\w.$]+(?:Exception|Error): .+$",
                             re.MULTILINE)
_PR_SET_PDEATHSIG = 1


def default_spark_submit() -> str:
    """``<pyspark dir>/bin/spark-submit`` of the installed pyspark, else ``spark-submit`` on PATH."""
    try:
        import pyspark  # optional: only to locate the launcher it ships
    except ImportError:
        found = shutil.which("spark-submit")
        if found is None:
            raise InvalidArgument("no spark-submit: install pyspark or pass spark_submit=<path>") from None
        return found
    return str(Path(pyspark.__file__).parent / "bin" / "spark-submit")


def properties_text(conf: Mapping[str, str]) -> str:
    """*conf* as a Java properties file (read by Spark as UTF-8)."""

    def escape(text: str, key: bool) -> str:
        text = text.replace("\\", "\\\\").replace("\n", "\\n").replace("\r", "\\r").replace("\t", "\\t")
        if key:
            text = re.sub(r"([=: #!])", r"\\\1", text)
        elif text.startswith((" ", "#", "!")):
            text = "\\" + text
        return text

    return "".join(f"{escape(k, True)}={escape(v, False)}\n" for k, v in sorted(conf.items()))


@dataclass(frozen=True, slots=True)
class LaunchResult:
    """What one spark-submit run printed (secrets already scrubbed) and how it ended."""

    returncode: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + "\n" + self.stderr

    @property
    def usage_error(self) -> str | None:
        """spark-submit's own refusal of its arguments (nothing contacted), or None."""
        if self.returncode == 0 or _USAGE not in self.output:
            return None
        match = _ERROR_LINE.search(self.output)
        return match.group(1).strip() if match else None

    def summary(self, limit: int = 400) -> str:
        """The innermost exception line (or the last line) of the output, for a message."""
        found = _EXCEPTION_LINE.findall(self.output)
        lines = [line for line in self.output.splitlines() if line.strip()]
        text = found[-1] if found else (lines[-1] if lines else "no output")
        text = " ".join(text.split())
        return text[:limit] + ("..." if len(text) > limit else "")


class SparkSubmitLauncher:
    """Runs ``spark-submit`` as a subprocess with a timeout.

    *spark_submit*: the executable (default: the one pyspark ships). *timeout*: seconds
    before the launch (and its process group) is killed; keep it below the core's
    ``Policy.intent_lease`` (120 s), which must outlast the slowest submission. *env*:
    variables added to this process's environment (``HADOOP_CONF_DIR``, ``JAVA_HOME``...).
    """

    def __init__(self, spark_submit: str | None = None, *, timeout: float = 90.0,
                 env: Mapping[str, str] | None = None) -> None:
        if not timeout > 0:
            raise InvalidArgument(f"SparkSubmitLauncher timeout must be > 0 seconds, got {timeout!r}")
        self.spark_submit = spark_submit or default_spark_submit()
        self.timeout = timeout
        self.env = dict(env or {})

    def __repr__(self) -> str:
        return f"SparkSubmitLauncher({self.spark_submit!r}, timeout={self.timeout!r})"

    def launch(self, args: Sequence[str], conf: Mapping[str, str], *, secrets: Collection[str] = (),
               env: Mapping[str, str] | None = None, files: Mapping[str, str] | None = None,
               what: str = "spark-submit") -> LaunchResult:
        """Run ``spark-submit --properties-file <conf> --load-spark-defaults <args>``.

        *files*: name -> content written beside the properties file (mode 0600), for
        credentials spark-submit reads from a file; ``{dir}`` in a conf value is that
        directory. Returns when the process exited by itself; raises otherwise.
        """
        secret_list = [s for s in set(secrets) if s and len(s) >= 4]
        workdir = tempfile.mkdtemp(prefix="resumable-spark-submit-")  # 0700
        try:
            for name, content in (files or {}).items():
                _write_private(Path(workdir) / name, content)
            conf_file = Path(workdir) / "spark.properties"
            _write_private(conf_file, properties_text({k: v.replace("{dir}", workdir) for k, v in conf.items()}))
            argv = [self.spark_submit, "--properties-file", str(conf_file), "--load-spark-defaults", *args]
            return self._run(argv, {**os.environ, **self.env, **(env or {})}, secret_list, what)
        finally:
            shutil.rmtree(workdir, ignore_errors=True)

    def _run(self, argv: list[str], env: dict[str, str], secrets: list[str], what: str) -> LaunchResult:
        try:
            process = subprocess.Popen(
                argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
                start_new_session=True,  # one process group: a timeout kills the JVM and its helpers
                preexec_fn=_die_with_parent if _PRCTL is not None else None,  # see the module doc
            )
        except OSError as exc:  # not found, not executable: nothing ran, nothing was created
            raise SubmissionRejected(f"{what}: cannot start {self.spark_submit!r}: {type(exc).__name__}: "
                                     f"{exc.strerror or exc}") from exc
        try:
            out, err = process.communicate(timeout=self.timeout)
        except subprocess.TimeoutExpired:
            _kill_group(process)
            out, err = process.communicate()
            result = self._result(process.returncode, out, err, secrets)
            raise TransientError(f"{what}: spark-submit did not finish within {self.timeout:g}s and was killed; "
                                 f"it may have submitted: {result.summary()}") from None
        except BaseException:
            _kill_group(process)  # an interrupt: never leave a launch running behind us
            process.wait()
            raise
        result = self._result(process.returncode, out, err, secrets)
        log.debug("%s exited %s", what, result.returncode)
        if result.returncode < 0:
            raise TransientError(f"{what}: spark-submit was killed by signal {-result.returncode}; "
                                 f"it may have submitted: {result.summary()}")
        return result

    @staticmethod
    def _result(returncode: int, out: bytes, err: bytes, secrets: list[str]) -> LaunchResult:
        def clean(data: bytes) -> str:
            return redact(mask_values(data.decode("utf-8", "replace"), secrets))

        return LaunchResult(returncode, clean(out), clean(err))


def ambiguous_failure(what: str, result: LaunchResult) -> TransientError:
    """A failed launch that may have created something: the core keeps the intent and looks it up."""
    return TransientError(f"{what}: spark-submit exited {result.returncode} after it may have submitted "
                          f"({result.summary()}); looking the reference up before any new submission")


def usage_rejection(what: str, result: LaunchResult) -> SubmissionRejected | None:
    reason = result.usage_error
    if reason is None:
        return None
    return SubmissionRejected(f"{what}: spark-submit refused its arguments before contacting the cluster: {reason}")


def _write_private(path: Path, content: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(content)


def _load_prctl() -> Any:
    if sys.platform != "linux":
        return None
    try:
        return ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None


# Resolved here, in the parent: loading a library between fork and exec can deadlock on the
# loader's lock if another thread held it at fork time; calling a resolved function cannot.
_PRCTL = _load_prctl()


def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    _PRCTL(_PR_SET_PDEATHSIG, signal.SIGKILL)


def _kill_group(process: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)  # the group this launch created, named by its leader's pid


__all__ = [
    "LaunchResult",
    "SparkSubmitLauncher",
    "ambiguous_failure",
    "default_spark_submit",
    "properties_text",
    "usage_rejection",
]

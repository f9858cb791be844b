"""``resumable pod run``: a container on Kubernetes as a resumable job (the Kubernetes system's command).

Option names are kubectl's where kubectl has them (``kubectl run``): ``--image``,
``--namespace``/``-n``, ``--kubeconfig``, ``--context``, ``--server``/``-s``, ``--env``,
``--labels``, ``--image-pull-policy``, ``--command``; the pod's name is a prefix here
(``--name``), the reference makes the rest. Credentials as kubectl finds them:
``--kubeconfig``, ``$KUBECONFIG``, the pod's service account inside a pod, ``~/.kube/config``;
``--server`` alone talks to an unauthenticated proxy (``kubectl proxy``).
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..cli.plugin import EXIT_USAGE, CliError, Commands, JobKind, ask_status, run_job

if TYPE_CHECKING:
    from resumable_core import JsonValue, Policy, PollPolicy

    from ._client import KubernetesClient
    from ._pod import KubernetesPodJob

KIND = "kubernetes-pod"


@dataclass(frozen=True)
class Credentials:
    """Where the API server and its credentials come from; recorded so status and cancel find them again."""

    source: str  # "kubeconfig", "in-cluster" or "server" (no credentials: a proxy)
    kubeconfig: str | None = None
    context: str | None = None
    server: str | None = None

    def meta(self) -> dict[str, JsonValue]:
        return {"source": self.source, "kubeconfig": self.kubeconfig, "context": self.context, "server": self.server}

    @classmethod
    def find(cls, kubeconfig: str | None, context: str | None, server: str | None) -> Credentials:
        path = kubeconfig or (os.environ.get("KUBECONFIG") or "").split(os.pathsep)[0] or None
        if path is None and server:
            return cls("server", server=server)
        if path is None and not context and os.environ.get("KUBERNETES_SERVICE_HOST"):
            return cls("in-cluster")
        if path is None and (Path.home() / ".kube" / "config").is_file():
            path = str(Path.home() / ".kube" / "config")
        if path is None:
            raise CliError("no Kubernetes credentials: give --kubeconfig (or $KUBECONFIG), run inside a pod, or "
                           "--server for a kubectl proxy", EXIT_USAGE)
        # Absolute: status, cancel and watch may run from another directory.
        return cls("kubeconfig", str(Path(path).absolute()), context, server)


class PodKind:
    """``resumable pod run``: the pod job, and what rebuilds it for status, cancel and watch."""

    def __init__(self, *, credentials: Credentials, namespace: str | None, name: str, container: str) -> None:
        self.credentials = credentials
        self.namespace = namespace
        self.name = name
        self.container = container
        self._watcher: KubernetesPodJob | None = None

    def client(self) -> KubernetesClient:
        from ._client import KubernetesClient

        options: dict[str, Any] = {"namespace": self.namespace} if self.namespace else {}
        creds = self.credentials
        if creds.source == "in-cluster":
            return KubernetesClient.in_cluster(**options)
        if creds.source == "server":
            return KubernetesClient(str(creds.server), **options)
        # kubectl's --server overrides the kubeconfig's cluster address, keeping its credentials.
        client = KubernetesClient.from_kubeconfig(creds.kubeconfig, context=creds.context, **options)
        return client.at(creds.server) if creds.server else client

    def job(self, manifest: dict[str, Any]) -> KubernetesPodJob:
        from ._pod import KubernetesPodJob

        return KubernetesPodJob(self.client(), manifest, name=self.name, container=self.container)

    def meta(self) -> dict[str, JsonValue]:
        return {"kind": KIND, "credentials": self.credentials.meta(), "namespace": self.namespace,
                "name": self.name, "container": self.container}

    def policy(self) -> Policy:
        from resumable_core import Policy

        return Policy(intent_lease=30.0)  # one create call: a crashed client's intent need not wait long

    def poll_policy(self) -> PollPolicy:
        from resumable_core import PollPolicy

        return PollPolicy(min_interval=1.0, max_interval=10.0)

    def watcher(self) -> KubernetesPodJob:
        if self._watcher is None:
            from ._pod import command_pod

            # Status, cancel and the lookup by label go by job id and reference: the image is never used.
            self._watcher = self.job(command_pod("unused", container=self.container))
        return self._watcher

    def started_at(self, job_id: str) -> float | None:
        return None

    def live_status(self, job_id: str) -> str:
        return ask_status(self.watcher(), job_id)

    def failure_details(self, job_id: str) -> str | None:
        namespace, _, rest = job_id.partition("/")
        return f"logs: kubectl logs -n {namespace} {rest.partition('/')[0]} -c {self.container}"

    def exit_status(self, job_id: str) -> int | None:
        """The container's exit code, as the pod reports it (``Failed (exit code 3)``)."""
        status = ask_status(self.watcher(), job_id)
        code = status.partition("(exit code ")[2].rstrip(")")
        return int(code) if code.isdigit() else None

    def replay_output(self, job_id: str | None) -> None:
        """The container's log (its last 1000 lines), as ``kubectl logs`` shows it, when the pod is still there."""
        if job_id is None:
            return
        try:
            text = self.watcher().read_log(job_id, lines=1000)
        except Exception:  # the output is a courtesy: the outcome is already decided
            return
        if text:
            sys.stdout.write(text if text.endswith("\n") else text + "\n")
            sys.stdout.flush()

    def success_summary(self, result: object) -> str:
        if not isinstance(result, dict):
            return "pod succeeded"
        return (f"pod {result.get('namespace')}/{result.get('pod')} {result.get('phase')} "
                f"(exit code {result.get('exit_code')})")

    @classmethod
    def from_meta(cls, meta: dict[str, JsonValue]) -> PodKind | None:
        creds, name, container = meta.get("credentials"), meta.get("name"), meta.get("container")
        if meta.get("kind") != KIND or not isinstance(creds, dict) or not isinstance(name, str) \
                or not isinstance(container, str) or not isinstance(creds.get("source"), str):
            return None

        def text(value: object) -> str | None:
            return value if isinstance(value, str) else None

        namespace = meta.get("namespace")
        return cls(credentials=Credentials(str(creds["source"]), text(creds.get("kubeconfig")),
                                           text(creds.get("context")), text(creds.get("server"))),
                   namespace=text(namespace), name=name, container=container)


def _pairs(values: list[str], what: str) -> dict[str, str]:
    found: dict[str, str] = {}
    for value in values:
        for item in value.split(",") if what == "--labels" else [value]:
            key, sep, text = item.partition("=")
            if not sep or not key:
                raise CliError(f"{what} {item!r} is not KEY=VALUE", EXIT_USAGE)
            found[key] = text
    return found


def cmd_pod(args: argparse.Namespace) -> int:
    argv = list(args.argv)
    if argv and argv[0] == "--":
        argv = argv[1:]
    if not argv and args.command:
        raise CliError("pod run --command needs the command after -- (see: resumable pod run --help)", EXIT_USAGE)
    from resumable_core import ResumableError

    from ._pod import command_pod

    credentials = Credentials.find(args.kubeconfig, args.context, args.server)
    kind = PodKind(credentials=credentials, namespace=args.namespace, name=args.name, container=args.container)
    try:
        manifest = command_pod(args.image, argv if args.command else (), () if args.command else argv,
                               env=_pairs(args.env, "--env"), container=args.container,
                               labels=_pairs(args.labels, "--labels"))
        if args.image_pull_policy:
            manifest["spec"]["containers"][0]["imagePullPolicy"] = args.image_pull_policy
        manifest["spec"]["restartPolicy"] = args.restart
        job = kind.job(manifest)
    except ResumableError as exc:  # a bad name, image or kubeconfig: nothing written yet
        raise CliError(str(exc), EXIT_USAGE) from None
    options = [*(["--namespace", args.namespace] if args.namespace else []),
               *(["--kubeconfig", args.kubeconfig] if args.kubeconfig else []),
               *(["--context", args.context] if args.context else [])]
    hint = shlex.join(["resumable", "pod", "run", "--key", args.key, "--image", args.image, *options, "--",
                       *argv])
    return run_job(args, kind, job, reattach_hint=hint)


class _Commands:
    def add_commands(self, commands: Commands) -> None:
        pod = commands.add_command("pod", help="run a container on Kubernetes as a resumable job", handler=cmd_pod,
                                   usage="resumable pod run --key KEY --image IMAGE [options] -- [ARGS...]")
        # "pod run": a verb under "pod" (kubectl's shape). Its parser gets the common options from
        # a copy of "pod"'s, taken before the verbs are added, and the job options every job
        # command has; the values the verb's parser sets are the ones the handler reads.
        common = argparse.ArgumentParser(add_help=False, parents=[pod])  # -h included: run adds none
        verbs = pod.add_subparsers(dest="pod_action", required=True, metavar="run")
        run = verbs.add_parser("run", parents=[common], add_help=False, help="create the pod, or reattach to it",
                               usage="resumable pod run --key KEY --image IMAGE [options] [--command] -- [ARGS...]")
        run.add_argument("--key", required=True, help="names the logical job: same key, same job")
        run.add_argument("--fresh", action="store_true", help="ignore a recorded success and run again")
        run.add_argument("--cancel-on-interrupt", action="store_true",
                         help="on Ctrl-C or SIGTERM delete the pod (default: detach, leaving it running)")
        run.add_argument("--image", required=True, help="the container image")
        run.add_argument("-n", "--namespace", metavar="NAME", help="default: the kubeconfig context's")
        run.add_argument("--kubeconfig", metavar="PATH", help="default: $KUBECONFIG, the pod's service account, "
                         "~/.kube/config")
        run.add_argument("--context", metavar="NAME", help="the kubeconfig context to use")
        run.add_argument("-s", "--server", metavar="URL", help="the API server's address (alone: an "
                         "unauthenticated proxy such as kubectl proxy)")
        run.add_argument("--name", default="pod", metavar="PREFIX", help="the pod name's start (default: pod)")
        run.add_argument("-c", "--container", default="base", metavar="NAME", help="the container's name "
                         "(default: base, as KubernetesPodOperator's)")
        run.add_argument("--env", action="append", default=[], metavar="KEY=VALUE")
        run.add_argument("-l", "--labels", action="append", default=[], metavar="K=V,...")
        run.add_argument("--image-pull-policy", choices=("Always", "IfNotPresent", "Never"))
        run.add_argument("--restart", default="Never", choices=("Never", "OnFailure"),
                         help="the pod's restartPolicy (Always never ends, so it is not offered)")
        run.add_argument("--command", action="store_true",
                         help="the words after -- are the command (entrypoint), not the image's arguments")
        run.add_argument("argv", nargs=argparse.REMAINDER, metavar="ARGS", help="-- then the arguments (or the "
                         "command with --command)")

    def kind_from_meta(self, meta: dict[str, JsonValue]) -> JobKind | None:
        return PodKind.from_meta(meta)


COMMANDS = _Commands()

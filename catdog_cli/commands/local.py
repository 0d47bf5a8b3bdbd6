"""`catdog local up|down|env|worker`: a local stack people can start, see, use and stop."""

from __future__ import annotations

import argparse
from pathlib import Path

from catdog.ranges import PORT, number, whole
from catdog_local.moto_server import DEFAULT_HOST, DEFAULT_PORT, DEFAULT_REGION
from catdog_local.resources import TEMPLATE as DEFAULT_TEMPLATE
from catdog_local.state import DEFAULT_STACK

#: The local default for the queue's visibility timeout (the template's 720 s is 6x Lambda's timeout).
LOCAL_VISIBILITY_TIMEOUT_S = 120
#: What SQS accepts as a visibility timeout: 0 to 12 hours. (A batch of up to 10,000 messages and
#: a window of up to 300 s are Lambda's limits for an SQS event source; a long poll is 0-20 s.)
SQS_SECONDS = whole(0, 43200)


def register(sub: argparse._SubParsersAction) -> None:
    local = sub.add_parser("local", help="run the pipeline's AWS pieces on this machine (moto)")
    local_sub = local.add_subparsers(dest="local_command", metavar="{up,down,worker,env}", required=True)

    up = local_sub.add_parser("up", help="start a local AWS endpoint with the template's resources")
    up.add_argument("--port", type=PORT, default=None,
                    help=f"listen on 127.0.0.1:PORT (default $CATDOG_LOCAL_PORT, else {DEFAULT_PORT}, or a "
                         "free port when another program has that one; 0 picks a free port; the port "
                         "is printed and written to the state file)")
    up.add_argument("--host", default=DEFAULT_HOST,
                    help=f"address to bind (default {DEFAULT_HOST}; 0.0.0.0 lets `sam local invoke`'s "
                         "container reach it as host.docker.internal - anyone on your network could too)")
    up.add_argument("--region", default=DEFAULT_REGION,
                    help=f"region name for the resources (default {DEFAULT_REGION})")
    up.add_argument("--template", type=Path, default=DEFAULT_TEMPLATE, help="SAM template to provision from")
    up.add_argument("--stack-name", default=DEFAULT_STACK,
                    help="stands in for AWS::StackName and names this local stack "
                         f"(default {DEFAULT_STACK}); stacks with different names run side by side")
    up.add_argument("--visibility-timeout", type=SQS_SECONDS, default=LOCAL_VISIBILITY_TIMEOUT_S, metavar="S",
                    help=f"the queue's visibility timeout (default {LOCAL_VISIBILITY_TIMEOUT_S} s: a worker "
                         "killed mid-batch leaves its messages invisible this long; the template's 720 s "
                         "suits Lambda)")
    up.add_argument("--detach", action="store_true",
                    help="start in the background and return once it serves (stop it with catdog local down)")
    up.set_defaults(func=cmd_up)

    down = local_sub.add_parser("down", help="stop a running local stack (--stack NAME; default: the one "
                                             "running)")
    down.set_defaults(func=cmd_down)

    worker = local_sub.add_parser(
        "worker", help="poll the local queue and call the handler like Lambda's SQS event source"
    )
    worker.add_argument("--once", action="store_true", help="process one batch (or one empty poll) and exit")
    worker.add_argument("--until-empty", action="store_true",
                        help="exit when the queue is drained (every message deleted or moved to the DLQ)")
    worker.add_argument("--retry-delay", type=SQS_SECONDS, default=None, metavar="S",
                        help="make failed messages visible again after S seconds instead of the queue's "
                             "visibility timeout (a local shortcut; AWS waits the full timeout)")
    worker.add_argument("--batch-size", type=whole(1, 10000), default=None,
                        help="override the template's BatchSize")
    worker.add_argument("--batch-window", type=number(0, 300), default=None, metavar="S",
                        help="override the template's MaximumBatchingWindowInSeconds")
    worker.add_argument("--wait", type=whole(0, 20), default=20, metavar="S",
                        help="long-poll seconds (0-20, default 20)")
    worker.add_argument("--log-format", choices=("file", "json"), default="file",
                        help="the function's own JSON logs: to a file (default; the path is printed) or "
                             "json on stderr")
    worker.add_argument("--log-file", type=Path, metavar="PATH",
                        help="where the function's logs go (default ~/.cache/catdog/logs/worker-STACK.log)")
    worker.set_defaults(func=cmd_worker)

    env = local_sub.add_parser(
        "env", help='print the exports for the running local stack: eval "$(catdog local env)"'
    )
    env.set_defaults(func=cmd_env)


# Each handler imports its work module when it runs (see catdog_cli/commands/__init__.py).


def cmd_up(args: argparse.Namespace) -> int:
    from catdog_cli import local_stack

    options = local_stack.StackOptions(name=args.stack_name, port=args.port, host=args.host,
                                       region=args.region, template=args.template,
                                       visibility_timeout=args.visibility_timeout)
    return local_stack.up(options, detach=args.detach)


def cmd_down(args: argparse.Namespace) -> int:
    from catdog_cli import local_stack

    return local_stack.down(args.stack)


def cmd_env(args: argparse.Namespace) -> int:
    from catdog_cli import local_stack

    return local_stack.env(args.stack)


def cmd_worker(args: argparse.Namespace) -> int:
    from catdog_cli import local_worker

    options = local_worker.WorkerOptions(
        once=args.once, until_empty=args.until_empty, retry_delay_s=args.retry_delay,
        batch_size=args.batch_size, batch_window_s=args.batch_window, wait_s=args.wait,
        log_format=args.log_format, log_file=args.log_file)
    return local_worker.run(args.stack, options)

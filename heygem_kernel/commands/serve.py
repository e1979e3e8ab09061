"""``heygem serve``: the notebook workbench as a web app (Voila), loopback-only by default."""
from __future__ import annotations

import argparse


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    from ..serve import DEFAULT_HOST, DEFAULT_PORT
    from ..workspace import DEFAULT_MAX_UPLOAD_MB

    parser = subparsers.add_parser(
        "serve", help="serve the workbench notebook as a web app (Voila)",
        description="Serve notebooks/workbench.ipynb with Voila. Binds to 127.0.0.1 unless --host "
                    "says otherwise; a non-loopback --host requires a token (generated if not given).",
    )
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"TCP port (default {DEFAULT_PORT})")
    parser.add_argument("--host", default=DEFAULT_HOST,
                        help=f"address to listen on (default {DEFAULT_HOST}; 0.0.0.0 lets other machines in)")
    parser.add_argument("--token", default=None,
                        help="access token (required off loopback; generated and printed if omitted)")
    parser.add_argument("--max-upload-mb", type=float, default=None,
                        help=f"largest file the panel accepts through the browser, in MB (default "
                             f"{DEFAULT_MAX_UPLOAD_MB}); large videos can be picked from disk instead")
    parser.add_argument("--root", default=None,
                        help="workspace holding uploads/, runs/ and notebooks/workbench.ipynb "
                             "(default: the project checkout)")
    parser.add_argument("--media-dir", action="append", default=[], metavar="DIR",
                        help="folder whose media the panel lists for picking (repeatable); large "
                             "videos need not travel through the browser")
    parser.add_argument("--lang", choices=("en", "zh"), default=None,
                        help="language of the page (default: each browser's Accept-Language)")
    parser.add_argument("--scheduler", default=None, metavar="ADDRESS",
                        help="a Dask scheduler (tcp://host:8786) that the page's batch jobs fan out over "
                             "(default: each job runs on this machine, one at a time)")
    parser.set_defaults(func=main)
    return parser


def main(args: argparse.Namespace) -> int:
    from ..serve import make_config, serve

    if args.scheduler:   # a typo or a stopped cluster: one line now, not every batch job failing later
        from ..batch import check_scheduler
        check_scheduler(args.scheduler)
    config = make_config(root=args.root, host=args.host, port=args.port, token=args.token,
                         max_upload_mb=args.max_upload_mb, media_dirs=args.media_dir, lang=args.lang,
                         scheduler=args.scheduler)
    return serve(config)

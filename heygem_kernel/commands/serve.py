"""``heygem serve``: the notebook workbench as a web app (Voila), loopback-only by default."""
from __future__ import annotations

import argparse

from ..i18n import N_, Text


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    from ..serve import DEFAULT_HOST, DEFAULT_PORT
    from ..workspace import DEFAULT_MAX_UPLOAD_MB

    parser = subparsers.add_parser(
        "serve", help=N_("serve the workbench notebook as a web app (Voila)"),
        description=N_("Serve notebooks/workbench.ipynb with Voila. Binds to 127.0.0.1 unless --host "
                    "says otherwise; a non-loopback --host requires a token (generated if not given)."),
    )
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help=N_("TCP port (default: %(default)s)"))
    parser.add_argument("--host", default=DEFAULT_HOST,
                        help=N_("address to listen on (default: %(default)s; 0.0.0.0 lets other machines in)"))
    parser.add_argument("--token", default=None,
                        help=N_("access token (required off loopback; generated and printed if omitted)"))
    parser.add_argument("--max-upload-mb", type=float, default=None,
                        help=Text("largest file the panel accepts through the browser, in MB (default: {mb}); large "
                                  "videos can be picked from disk instead", mb=DEFAULT_MAX_UPLOAD_MB))
    parser.add_argument("--root", default=None,
                        help=N_("workspace holding uploads/, runs/ and notebooks/workbench.ipynb "
                             "(default: the project checkout)"))
    parser.add_argument("--media-dir", action="append", default=[], metavar="DIR",
                        help=N_("folder whose media the panel lists for picking (repeatable); large "
                             "videos need not travel through the browser"))
    parser.add_argument("--lang", choices=("en", "zh"), default=None,
                        help=N_("language of the page (default: each browser's Accept-Language)"))
    parser.add_argument("--scheduler", default=None, metavar="ADDRESS",
                        help=N_("a Dask scheduler (tcp://host:8786) that the page's batch jobs fan out over "
                             "(default: each job runs on this machine, one at a time)"))
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

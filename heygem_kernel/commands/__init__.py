"""Sub-commands of ``heygem``: each module has ``add_parser(subparsers)``; the parser's
``func`` default is the function that runs it and returns the exit status."""

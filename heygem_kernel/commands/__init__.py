"""Sub-commands of ``heygem``: each module has ``add_parser(subparsers)``; the parser's
``func`` default is the function that runs it and returns the exit status."""

# Native log lines (absl/glog in mediapipe's C++ graph, TFLite's banner, papermill's local
# kernel) that mean nothing to a user; `heygem batch` filters its kernel's output with them too.
NATIVE_NOISE = ("W0000 ", "I0000 ", "E0000 ", "WARNING: All log messages before absl::InitializeLog()",
                "INFO: Created TensorFlow Lite",
                "[IPKernelApp] WARNING | Kernel is running over TCP without encryption")


def shell_word(path) -> str:
    """``path`` as one word of a command line to copy from a message: quoted (``shlex.quote``) when it
    holds a space, a quote or another character the shell reads; letters of any script stay as they are
    ("heygem batch --from /data/批量 结果/第一 期" split into three words in the shell)."""
    import re
    import shlex
    text = str(path)
    return text if text and not re.search(r"[^\w@%+=:,./-]", text) else shlex.quote(text)

"""Sub-commands of ``heygem``: each module has ``add_parser(subparsers)``; the parser's
``func`` default is the function that runs it and returns the exit status."""

# Native log lines (absl/glog in mediapipe's C++ graph, TFLite's banner, papermill's local
# kernel) that mean nothing to a user; `heygem batch` filters its kernel's output with them too.
NATIVE_NOISE = ("W0000 ", "I0000 ", "E0000 ", "WARNING: All log messages before absl::InitializeLog()",
                "INFO: Created TensorFlow Lite",
                "[IPKernelApp] WARNING | Kernel is running over TCP without encryption")

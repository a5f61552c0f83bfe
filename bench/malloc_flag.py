"""The benches' ``--malloc-defaults`` flag: by default a bench keeps freed memory in the
process as the ``jepa`` command does (``worldmodel.malloc``); the flag measures without."""

from __future__ import annotations

import argparse

from worldmodel.malloc import reuse_freed_memory


def parse_args(parser: argparse.ArgumentParser) -> argparse.Namespace:
    """Add ``--malloc-defaults`` to ``parser``, parse, and apply the allocator setting."""
    parser.add_argument("--malloc-defaults", action="store_true",
                        help="leave glibc's allocator as it is (as a plain script would)")
    args = parser.parse_args()
    if not args.malloc_defaults:
        reuse_freed_memory()
    return args

"""Which kind of lmms-eval model tasks are being built for, while lmms-eval builds them.

lmms-eval picks a model's request shape from ``lm.is_simple``: simple models read ``doc_to_visual``
requests, chat models read ``doc_to_messages`` requests. It hands that choice to its own task classes
but constructs a YAML's ``class:`` without it, so the plugin's task-loading hook records it here and
the VDC task class reads it when it is constructed. No lmms-eval import: the hook sets it early.
"""

from __future__ import annotations

from contextvars import ContextVar
from typing import Literal

TaskType = Literal["simple", "chat"]

# "simple" outside a hooked load: the request shape lmms-eval's own ConfigurableTask builds.
LOADING_FOR: ContextVar[TaskType] = ContextVar("vdc_bench_loading_for", default="simple")

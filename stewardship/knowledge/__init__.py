"""The drug knowledge base: drugdata/ loaded, schema-checked and cross-checked, as plain frozen values.

A knowledge file is clinical content: a typo in it is a wrong alert. So loading is strict and loud: every file is
validated against its schema, every `source` must name a registered citation, every class must exist, every RxCUI
must be an RxNorm ingredient in the offline subset; the first problem stops the load with the file, the entry and
the field named (`KnowledgeBaseError`). Run `python -m stewardship.knowledge` to validate drugdata/ by hand.

Three modules: `values` (the vocabulary and the frozen values the engine reads), `schemas` (what each file must
look like) and `loader` (reading, cross-checking and building the values). This package re-exports them.
"""
from .loader import *  # noqa: F403

# the rulebook, stopping rules, interactions and conditions load their files with the same helpers
from .loader import _flatten, _load_with, _read_yaml, _register_sources  # noqa: F401
from .schemas import *  # noqa: F403
from .schemas import _source_field  # noqa: F401
from .values import *  # noqa: F403

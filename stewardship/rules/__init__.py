"""The rules, one function per entry of config/rules.yaml, grouped by category. Importing this package
registers them with the engine (`stewardship.engine.rule`)."""
from . import (cns, dose_opioid, duplication, geriatric_disease, gi_bleeding, renal_hepatic,  # noqa: F401
               procedure, stopping, unresolved)

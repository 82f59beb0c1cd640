"""The rules, one function per entry of config/rules.yaml, grouped by category. Importing this package
registers them with the engine (`stewardship.engine.rule`)."""
from . import (  # noqa: F401
               cns,
               dose_opioid,
               duplication,
               geriatric_disease,
               gi_bleeding,
               interactions,
               procedure,
               renal_hepatic,
               stopping,
               unresolved,
)

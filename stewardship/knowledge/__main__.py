"""`python -m stewardship.knowledge [FOLDER]`: validate a knowledge base folder by hand."""
import sys

from .loader import main

sys.exit(main())

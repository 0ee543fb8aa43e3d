"""spy-flow library: every stage of the SPY next-day direction pipeline as typed, testable functions.

The Metaflow flows in ``flows/`` only wire these functions together.
"""

# Metaflow packages only the flow file's own directory into its code package (used by @batch).
# This marker makes it include this sibling library too, so containers import the same code.
METAFLOW_PACKAGE_POLICY = "include"

__version__ = "0.1.0"

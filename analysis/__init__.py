"""The dashboard's engine: cohort format, validation, endpoint derivation, statistics.

Pure, typed functions; nothing here imports Streamlit.
"""

__version__ = "0.1.0"

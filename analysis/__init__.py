"""The dashboard's engine: cohort format, validation, endpoint derivation, statistics.

Pure, typed functions; nothing here imports Streamlit.
"""

import os

# One BLAS thread, set before numpy and scipy load OpenBLAS (this package is imported before
# either by every entry point: server.py, app.py, `python -m analysis`, the upload sandbox). The
# engine's matrix products are small (patients × a few covariates), and on a host of two cores
# serving several sessions OpenBLAS's threads only contend: the propensity model of 96,000 patients
# took 31–178 ms with its two threads, 33–60 ms with one. An operator's own setting is kept.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

__version__ = "0.1.0"

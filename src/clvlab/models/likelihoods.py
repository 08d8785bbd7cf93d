"""Pure likelihood and prediction functions of clvlab's models (no state).

Each function takes the parameters and per-customer arrays and returns one value per
customer, in log space wherever it matters for stability. The model classes in
:mod:`clvlab.models` are thin wrappers around these.
"""

from __future__ import annotations

import numpy as np
from scipy import special

# ======================================================================================
# BG/NBD (purchases and dropout) -- Fader, Hardie & Lee (2005)
# ======================================================================================

# (BG/NBD section: owned by the BG/NBD work)

# ======================================================================================
# Gamma-Gamma (spend per purchase) -- Fader, Hardie & Lee (2005), Colombo & Jiang (1999)
# ======================================================================================

# (Gamma-Gamma section: owned by the Gamma-Gamma work)

"""Progress bars that behave in a terminal, in JupyterLab and under papermill.

Headless runs (``IDSD_HEADLESS=1``, set by ``run_all.sh``) get plain-text ``tqdm.std``
bars, because widget bars do not render in executed notebooks; interactive sessions get
``tqdm.auto``.
"""

from __future__ import annotations

import os

if os.environ.get("IDSD_HEADLESS") == "1":
    from tqdm.std import tqdm
else:
    from tqdm.auto import tqdm

__all__ = ["tqdm"]

# SPDX-License-Identifier: Apache-2.0
"""`python -m capsule MAIN.py`: the guest entry (see capsule._runner)."""

import sys

from capsule._runner import main

sys.exit(main())

"""`python -m dlcourse ...` is the same as the `dlcourse` command."""

from dlcourse.tools.runner import main

raise SystemExit(main())

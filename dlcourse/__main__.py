"""`python -m dlcourse ...` is the same as the `dlcourse` command."""

from dlcourse.runner import main

raise SystemExit(main())

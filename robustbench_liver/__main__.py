"""`python -m robustbench_liver` is the same as the `robustbench-liver` command."""

from robustbench_liver.cli.main import main

raise SystemExit(main())

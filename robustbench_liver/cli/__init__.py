"""The `robustbench-liver` command line: one module per verb, listed in `main.COMMANDS`."""

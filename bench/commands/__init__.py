"""One module per `rnnbench` subcommand: HELP, add_arguments(parser), run(args) -> exit status."""

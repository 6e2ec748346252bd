"""CLI subcommands, one module each: add_parser(subparsers) adds the subparser, run(args) returns the text
to print (or (text, exit code)). Heavy imports (torch, matplotlib) happen inside run(), never at import."""

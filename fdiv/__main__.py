import sys

try:
    from .cli import main
except KeyboardInterrupt:  # Ctrl-C while the command line loads: the same one line as later
    sys.stderr.write("error: interrupted\n")
    sys.exit(130)

sys.exit(main())

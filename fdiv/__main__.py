import signal
import sys


class _Terminated(BaseException):
    pass


def _terminate(signum, frame):  # until the CLI installs its own handler
    raise _Terminated


signal.signal(signal.SIGTERM, _terminate)
try:
    from .cli import main
except KeyboardInterrupt:  # Ctrl-C or SIGTERM while the command line loads: the same one line as later
    sys.stderr.write("error: interrupted\n")
    sys.exit(130)
except _Terminated:
    sys.stderr.write("error: terminated\n")
    sys.exit(143)

sys.exit(main())

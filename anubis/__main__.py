import gc

gc.disable()  # while the command line starts: see anubis.cli.main, which turns it on again

from anubis.cli import main  # noqa: E402

main()

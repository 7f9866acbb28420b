"""The command line's sub-commands, one module each (``add_arguments(parser)`` and ``run(args) -> int``),
registered in :data:`triplanenet.cli.COMMANDS`; what they share is :mod:`.common`."""

"""The ``pnas`` command line: one module per command, all hung on :data:`pnas.cli.main.main`."""

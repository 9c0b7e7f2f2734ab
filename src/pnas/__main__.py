"""``python -m pnas``: the same command as ``pnas`` (useful from a checkout or a virtual environment not on PATH)."""

from pnas.cli.main import main

if __name__ == "__main__":
    main(prog_name="pnas")

"""``python -m newsarchive``; also the console script's entry point."""

import sys


def main() -> None:
    if sys.argv[1:] == ["--version"]:  # answered before the command line is built: typer and rich take most of start-up
        from newsarchive.version import __version__

        print(f"newsarchive {__version__}")
        return
    # Imported here, not at the top: worker processes import this module again and need no CLI.
    from newsarchive.cli import main as cli_main

    cli_main()


if __name__ == "__main__":
    main()

"""``python -m newsarchive``; also the console script's entry point."""


def main() -> None:
    # Imported here, not at the top: worker processes import this module again and need no CLI.
    from newsarchive.cli import main as cli_main

    cli_main()


if __name__ == "__main__":
    main()

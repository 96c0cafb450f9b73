"""`python -m edgenode`: the same command as the `edgenode` console script."""

from edgenode.cli import main

if __name__ == "__main__":
    main()

"""`python -m ipvssim ...`: the same command line as the installed `ipvssim` script."""
from ipvssim.cli import main

if __name__ == "__main__":
    main(prog_name="ipvssim")

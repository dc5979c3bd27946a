"""`python -m nimdoctor`."""

from nimdoctor.cli import main

main()

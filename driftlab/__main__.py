from driftlab.cli import main

main()

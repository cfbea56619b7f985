from evtool.cli.app import main

main()

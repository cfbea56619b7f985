from evtool.cli.app import main

if __name__ == "__main__":  # spawned --workers processes import this module again
    main()

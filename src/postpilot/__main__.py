from postpilot.cli import main

main()

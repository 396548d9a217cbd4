from photoanalyzer.cli import main

main()

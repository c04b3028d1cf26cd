from anubis.cli import main

main()

from nachtdienst.cli import main

main()

from warden_console.app import main

main()

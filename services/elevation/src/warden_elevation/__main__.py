from warden_elevation.app import main

main()

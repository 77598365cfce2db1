from warden_planner.app import main

main()

from warden_scheduler.app import main

main()
